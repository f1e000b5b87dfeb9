-- A new triplet is greylisted at RCPT TO; a recipient that is never
-- greylisted (postmaster) gets through on the same message.
conn = mt.connect(socket)
if conn == nil then error("mt.connect() failed") end
if mt.conninfo(conn, "mail.sender.example", "198.51.100.7") ~= nil then error("mt.conninfo() failed") end
if mt.helo(conn, "mail.sender.example") ~= nil then error("mt.helo() failed") end
if mt.mailfrom(conn, "<alice@sender.example>") ~= nil then error("mt.mailfrom() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("mail: unexpected reply") end
if mt.rcptto(conn, "<bob@example.org>") ~= nil then error("mt.rcptto() failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("rcpt: a new triplet was not greylisted") end
if mt.rcptto(conn, "<postmaster@example.org>") ~= nil then error("mt.rcptto() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt: postmaster was greylisted") end
mt.disconnect(conn)
mt.echo("ok: greylist")
