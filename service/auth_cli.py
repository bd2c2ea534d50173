"""`annals token new NAME --scopes …`: a fresh token, and the line that configures its hash."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any

from service.access_config import SCOPES, TokenConfigError, hash_token, parse_compact
from service.settings import Settings


def add_token_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `token new` to the `annals` command line."""
    p = subparsers.add_parser("token", help="make access tokens (see docs/OPERATIONS.md)")
    sub = p.add_subparsers(dest="token_command", required=True)
    s = sub.add_parser("new", help="print a fresh token and the configuration line for it")
    s.add_argument("name", help="who holds it; names its rate-limit bucket, e.g. ci or alice")
    s.add_argument(
        "--scopes", required=True, help=f"comma-separated, of {', '.join(SCOPES)} (e.g. write,read)"
    )
    s.set_defaults(fn=cmd_token_new)


def cmd_token_new(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Print the token on stdout (only there, only now) and its configuration on stderr."""
    scopes = sorted({s.strip() for s in str(args.scopes).split(",") if s.strip()})
    token = secrets.token_urlsafe(32)
    digest = hash_token(token)
    line = f"{args.name}:{digest}:{'+'.join(scopes)}"
    try:
        parse_compact(line, "the new token")  # the same rules as start-up, before printing
    except TokenConfigError as e:
        print(f"annals token new: {e}", file=sys.stderr)
        return 2
    entry: dict[str, Any] = {"name": args.name, "sha256": digest, "scopes": scopes}
    print(token)
    print(
        f"\nThe token above is shown once; configuration holds only its hash.\n"
        f"ANNALS_TOKENS entry (join several with commas):\n  {line}\n"
        f"or an entry of the JSON list in ANNALS_TOKENS_FILE:\n  {json.dumps(entry)}\n"
        f"or in a TOML ANNALS_TOKENS_FILE:\n"
        f'  [[tokens]]\n  name = "{args.name}"\n  sha256 = "{digest}"\n'
        f"  scopes = {json.dumps(scopes)}",
        file=sys.stderr,
    )
    return 0
