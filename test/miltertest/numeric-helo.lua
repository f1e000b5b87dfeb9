-- An external client whose HELO is a bare IP address is refused at HELO.
conn = mt.connect(socket)
if conn == nil then error("mt.connect() failed") end
if mt.conninfo(conn, "mail.sender.example", "198.51.100.7") ~= nil then error("mt.conninfo() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("connect: unexpected reply") end
if mt.helo(conn, "198.51.100.7") ~= nil then error("mt.helo() failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("helo: not refused with a reply code") end
mt.disconnect(conn)
mt.echo("ok: numeric-helo")
