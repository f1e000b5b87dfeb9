-- An internal client's clean message: accepted, with maxwell's
-- connection header inserted at the top.
conn = mt.connect(socket)
if conn == nil then error("mt.connect() failed") end
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("mt.conninfo() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("connect: unexpected reply") end
if mt.helo(conn, "pc1.example.org") ~= nil then error("mt.helo() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("helo: unexpected reply") end
if mt.mailfrom(conn, "<carol@example.org>") ~= nil then error("mt.mailfrom() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("mail: unexpected reply") end
if mt.rcptto(conn, "<dave@elsewhere.example>") ~= nil then error("mt.rcptto() failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt: unexpected reply") end
if mt.header(conn, "From", "Carol <carol@example.org>") ~= nil then error("mt.header() failed") end
if mt.header(conn, "Subject", "minutes") ~= nil then error("mt.header() failed") end
if mt.eoh(conn) ~= nil then error("mt.eoh() failed") end
if mt.bodystring(conn, "The minutes of today's meeting.\r\n") ~= nil then error("mt.bodystring() failed") end
if mt.eom(conn) ~= nil then error("mt.eom() failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("eom: not accepted") end
if not mt.eom_check(conn, MT_HDRINSERT, "X-Maxwell-Connection") then error("no X-Maxwell-Connection inserted") end
local v = mt.getheader(conn, "X-Maxwell-Connection", 0)
if v == nil or not string.find(v, 'class="INTERNAL LOCAL"; ip=127.0.0.1', 1, true) then error("X-Maxwell-Connection: " .. tostring(v)) end
if mt.eom_check(conn, MT_BODYCHANGE) then error("the body was changed") end
mt.disconnect(conn)
mt.echo("ok: accept")
