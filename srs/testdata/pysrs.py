# The other side of srs/interop_test.go: Debian's python3-srs (pysrs)
# reads one request per line on stdin and answers one line on stdout.
#   forward ADDRESS ALIAS | reverse ADDRESS | sign ADDRESS
#   sessign ADDRESS | sesverify ADDRESS
# Answers: "OK result" or "ERR why". The secrets, maxage, hashlength and
# separator come from the arguments, as pysrs's own daemon reads them.
import sys
import SRS
import SES

secrets, maxage, hashlength, separator = sys.argv[1].split(','), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
srs = SRS.new(secrets, maxage=maxage, hashlength=hashlength, separator=separator)
ses = SES.new(secrets, expiration=maxage)
for line in sys.stdin:
    op, _, arg = line.rstrip('\n').partition(' ')
    try:
        if op == 'forward':
            addr, alias = arg.rsplit(' ', 1)
            out = srs.forward(addr, alias)
        elif op == 'reverse':
            out = srs.reverse(arg)
        elif op == 'sign':
            out = srs.sign(arg)
        elif op == 'sessign':
            out = ses.sign(arg)
        elif op == 'sesverify':
            r = ses.verify(arg)
            if len(r) < 2:
                raise ValueError('not verified')
            out = r[0]
        else:
            raise ValueError('unknown request ' + op)
        print('OK ' + out)
    except Exception as e:
        print('ERR %s' % str(e).replace('\n', ' '))
    sys.stdout.flush()
