-- A MAIL FROM whose domain's SPF record fails the client is refused there.
conn = mt.connect(socket)
if conn == nil then error("mt.connect() failed") end
if mt.conninfo(conn, "mail.sender.example", "198.51.100.7") ~= nil then error("mt.conninfo() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("connect: unexpected reply") end
if mt.helo(conn, "mail.sender.example") ~= nil then error("mt.helo() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("helo: unexpected reply") end
if mt.mailfrom(conn, "<mallory@strict.example>") ~= nil then error("mt.mailfrom() failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("mail: SPF fail not refused") end
mt.disconnect(conn)
mt.echo("ok: spf-fail")
