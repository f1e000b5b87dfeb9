#!/usr/bin/python3
"""Parse Authentication-Results header fields with python3-authres.

Reads one JSON string per line on stdin, a whole field as delivered
("Authentication-Results: ...", folded with CRLF), and writes one JSON
object per line: the authserv-id and the results, or the error.

The parser runs in strict mode: authres's default (and its convenience
parse function) silently drops a property it cannot parse, which would
hide exactly what this check is for. Strict mode can only be asked for
through the constructor, so the field is parsed as parse_with_name does,
on an object made with strict=True. Quoted-string values come back as
authres returns them: the content between the quotes, quoted-pairs not
decoded.
"""
import json
import sys

import authres
import authres.core


def parse(field):
    ctx = authres.core_features()
    header = authres.core.AuthenticationResultsHeader(ctx, strict=True)
    text, n = header.HEADER_FIELD_PATTERN.subn('', field, 1)
    if n != 1:
        raise ValueError('not an Authentication-Results field')
    header._parse_text = text.rstrip('\r\n\t ')
    header._parse()
    return {
        'authserv_id': header.authserv_id,
        'results': [{
            'method': r.method,
            'result': r.result,
            'reason': r.reason or '',
            'props': [['%s.%s' % (p.type.lower(), p.name.lower()), p.value] for p in r.properties],
        } for r in header.results],
    }


def main():
    for line in sys.stdin:
        try:
            out = parse(json.loads(line))
        except Exception as e:  # every failure is an answer, not the end
            out = {'error': '%s: %s' % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
