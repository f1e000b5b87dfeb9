# The other side of dkim/interop_test.go: signs and verifies with
# Debian's dkimpy (python3-dkim) and OpenDKIM's library (libopendkim11,
# what opendkim-testmsg and the opendkim milter run on), driven through
# ctypes because opendkim-testmsg signs with rsa-sha1, relaxed/simple
# only.
#
# Reads a JSON list of jobs on stdin, writes a JSON list of answers on
# stdout, one per job, in order. Messages travel as base64 (CRLF line
# ends kept). Jobs:
#   {"op": "dkimpy-sign", "msg", "selector", "domain", "key" (a file),
#    "alg", "canon" ("relaxed/simple"), "length" (bool: an l= tag)}
#   {"op": "dkimpy-verify", "msg", "dns" ("127.0.0.1:port")}: every
#    signature of msg
#   {"op": "opendkim-sign", "msg", "selector", "domain", "key", "alg",
#    "canon", "oversign" (list), "time" (t=, 0 for now), "ttl" (x=t+ttl),
#    "unfolded" (bool: the signature on one line)}
# Answers: {"sig": "DKIM-Signature: ...\r\n"} for a signature, {"ok":
# true|false} for a verification, with "error" saying why not.
import base64
import ctypes
import json
import sys

import dkim
import dns.exception
import dns.rdatatype
import dns.resolver


def dkimpy_sign(job):
    with open(job['key'], 'rb') as f:
        key = f.read()
    hc, bc = job['canon'].encode().split(b'/')
    sig = dkim.sign(base64.b64decode(job['msg']), job['selector'].encode(),
                    job['domain'].encode(), key,
                    signature_algorithm=job['alg'].encode(),
                    canonicalize=(hc, bc), length=job.get('length', False))
    return {'sig': sig.decode()}


def dkimpy_verify(job):
    host, port = job['dns'].rsplit(':', 1)

    # dkimpy's dnsfunc, as dkim.dnsplug's get_txt_dnspython does it but
    # asking the test's server rather than /etc/resolv.conf's
    def txt(name, timeout=5):
        r = dns.resolver.Resolver(configure=False)
        r.nameservers, r.port = [host], int(port)
        try:
            a = r.resolve(name.decode(), dns.rdatatype.TXT, raise_on_no_answer=False, lifetime=timeout)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.exception.Timeout as e:
            raise dkim.DnsTimeoutError(str(e))
        for rrset in a.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b''.join(list(rrset.items)[0].strings)
        return None

    # every signature, top first: {"ok": all of them verify, "error":
    # why the first that did not failed}
    msg = base64.b64decode(job['msg'])
    d = dkim.DKIM(msg, timeout=2)
    n = len([1 for name, _ in d.headers if name.lower() == b'dkim-signature'])
    if n == 0:
        return {'ok': False, 'error': 'no signature'}
    for idx in range(n):
        d = dkim.DKIM(msg, timeout=2)
        try:
            ok = d.verify(idx=idx, dnsfunc=txt)
        except dkim.DKIMException as e:
            return {'ok': False, 'error': 'signature %d: %s' % (idx, e)}
        if not ok:
            return {'ok': False, 'error': 'signature %d did not verify' % idx}
    return {'ok': True}


# libopendkim's dkim.h
DKIM_STAT_OK = 0
DKIM_OP_SETOPT = 1
DKIM_OPTS_OVERSIGNHDRS = 5
DKIM_OPTS_FIXEDTIME = 8
DKIM_OPTS_SIGNATURETTL = 11
DKIM_CANON = {'simple': 0, 'relaxed': 1}
DKIM_SIGN = {'rsa-sha1': 0, 'rsa-sha256': 1, 'ed25519-sha256': 2}

libopendkim = None


def opendkim():
    global libopendkim
    if libopendkim is None:
        lib = ctypes.CDLL('libopendkim.so.11')
        p, i, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        for name, res, args in [
            ('dkim_init', p, [p, p]),
            ('dkim_close', None, [p]),
            ('dkim_options', i, [p, i, i, p, sz]),
            ('dkim_sign', p, [p, ctypes.c_char_p, p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                              i, i, i, ctypes.c_ssize_t, ctypes.POINTER(i)]),
            ('dkim_header', i, [p, ctypes.c_char_p, sz]),
            ('dkim_eoh', i, [p]),
            ('dkim_body', i, [p, ctypes.c_char_p, sz]),
            ('dkim_eom', i, [p, p]),
            ('dkim_getsighdr_d', i, [p, sz, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(sz)]),
            ('dkim_geterror', ctypes.c_char_p, [p]),
            ('dkim_getresultstr', ctypes.c_char_p, [i]),
            ('dkim_set_margin', i, [p, i]),
            ('dkim_free', i, [p]),
        ]:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        libopendkim = lib
    return libopendkim


def text(s):
    return s.decode() if s else ''


def result(status):
    return text(opendkim().dkim_getresultstr(status)) or 'status %d' % status


def split_message(msg):
    """The header fields (folding kept, no final CRLF) and the body."""
    head, sep, body = msg.partition(b'\r\n\r\n')
    if not sep:
        raise ValueError('no end of header')
    fields = []
    for line in head.split(b'\r\n'):
        if line[:1] in (b' ', b'\t') and fields:
            fields[-1] += b'\r\n' + line
        else:
            fields.append(line)
    return fields, body


def opendkim_sign(job):
    lib = opendkim()
    with open(job['key'], 'rb') as f:
        key = f.read()
    dl = lib.dkim_init(None, None)
    if not dl:
        raise RuntimeError('dkim_init failed')
    d = None
    try:
        def option(opt, ptr, size):
            status = lib.dkim_options(dl, DKIM_OP_SETOPT, opt, ptr, size)
            if status != DKIM_STAT_OK:
                raise RuntimeError('dkim_options(%d): %s' % (opt, result(status)))

        for opt, name in [(DKIM_OPTS_FIXEDTIME, 'time'), (DKIM_OPTS_SIGNATURETTL, 'ttl')]:
            if job.get(name):
                v = ctypes.c_uint64(job[name])
                option(opt, ctypes.byref(v), ctypes.sizeof(v))
        if job.get('oversign'):
            # a NULL-terminated list, passed as a char ** (its size, that of a pointer)
            names = (ctypes.c_char_p * (len(job['oversign']) + 1))(*[h.encode() for h in job['oversign']], None)
            option(DKIM_OPTS_OVERSIGNHDRS, names, ctypes.sizeof(ctypes.c_void_p))
        hc, bc = job['canon'].split('/')
        st = ctypes.c_int(0)
        d = lib.dkim_sign(dl, b'interop', None, key, job['selector'].encode(), job['domain'].encode(),
                          DKIM_CANON[hc], DKIM_CANON[bc], DKIM_SIGN[job['alg']], -1, ctypes.byref(st))
        if not d:
            raise RuntimeError('dkim_sign: %s' % result(st.value))

        def check(what, status):
            if status != DKIM_STAT_OK:
                raise RuntimeError('%s: %s (%s)' % (what, result(status), text(lib.dkim_geterror(d))))

        if job.get('unfolded'):
            # libopendkim 2.11.0~beta2 folds an Ed25519 signature's b= onto
            # a line of its own, having hashed it (simple header
            # canonicalization) on the line before: no verifier, itself
            # included, verifies that. Unfolded, both are one line.
            check('dkim_set_margin', lib.dkim_set_margin(d, 0))
        fields, body = split_message(base64.b64decode(job['msg']))
        for f in fields:
            check('dkim_header', lib.dkim_header(d, f, len(f)))
        check('dkim_eoh', lib.dkim_eoh(d))
        check('dkim_body', lib.dkim_body(d, body, len(body)))
        check('dkim_eom', lib.dkim_eom(d, None))
        buf, n = ctypes.c_char_p(), ctypes.c_size_t()
        check('dkim_getsighdr_d', lib.dkim_getsighdr_d(d, len('DKIM-Signature: '), ctypes.byref(buf), ctypes.byref(n)))
        return {'sig': 'DKIM-Signature: ' + buf.value.decode() + '\r\n'}
    finally:
        if d:
            lib.dkim_free(d)
        lib.dkim_close(dl)


OPS = {'dkimpy-sign': dkimpy_sign, 'dkimpy-verify': dkimpy_verify, 'opendkim-sign': opendkim_sign}

out = []
for job in json.load(sys.stdin):
    try:
        out.append(OPS[job['op']](job))
    except Exception as e:
        out.append({'error': '%s: %s' % (type(e).__name__, e)})
json.dump(out, sys.stdout)
