-- An attachment that can carry a virus is replaced: the body changes,
-- the message is accepted.
conn = mt.connect(socket)
if conn == nil then error("mt.connect() failed") end
if mt.conninfo(conn, "mail.sender.example", "198.51.100.7") ~= nil then error("mt.conninfo() failed") end
if mt.helo(conn, "mail.sender.example") ~= nil then error("mt.helo() failed") end
if mt.mailfrom(conn, "<alice@sender.example>") ~= nil then error("mt.mailfrom() failed") end
if mt.rcptto(conn, "<postmaster@example.org>") ~= nil then error("mt.rcptto() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt: unexpected reply") end
if mt.header(conn, "From", "Alice <alice@sender.example>") ~= nil then error("mt.header() failed") end
if mt.header(conn, "Subject", "the pictures") ~= nil then error("mt.header() failed") end
if mt.header(conn, "MIME-Version", "1.0") ~= nil then error("mt.header() failed") end
if mt.header(conn, "Content-Type", "multipart/mixed; boundary=b") ~= nil then error("mt.header() failed") end
if mt.eoh(conn) ~= nil then error("mt.eoh() failed") end
if mt.bodystring(conn, "--b\r\nContent-Type: text/plain\r\n\r\nHello.\r\n--b\r\nContent-Type: application/octet-stream; name=\"pictures.pif\"\r\n\r\nMZ\r\n--b--\r\n") ~= nil then error("mt.bodystring() failed") end
if mt.eom(conn) ~= nil then error("mt.eom() failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("eom: not accepted") end
if not mt.eom_check(conn, MT_BODYCHANGE) then error("the attachment was not defanged") end
mt.disconnect(conn)
mt.echo("ok: defang")
