-- metrics.lua - a fixed set of decisions through quotachk-milter, for
-- tests/integration/metrics.sh to find counted in its /metrics
-- (miltertest -D port=PORT, against the private Cyrus fixtures).

local sock = "inet:" .. port .. "@127.0.0.1"
local conn = mt.connect(sock, 40, 0.25)
if conn == nil then
	error("cannot connect to " .. sock)
end

local function step(what, err, want)
	if err ~= nil then
		error(what .. ": " .. err)
	end
	local got = mt.getreply(conn)
	if got ~= want then
		error(string.format("%s: reply %q, wanted %q", what, got, want))
	end
	mt.echo("ok - " .. what)
end

step("MAIL FROM", mt.mailfrom(conn, "<sender@remote.test>", "SIZE=1000"),
     SMFIR_CONTINUE)
step("RCPT alice: fits", mt.rcptto(conn, "<alice@example.test>"),
     SMFIR_CONTINUE)
step("RCPT bob: overquota", mt.rcptto(conn, "<bob@example.test>"),
     SMFIR_REPLYCODE)
step("RCPT nosuch: nouser", mt.rcptto(conn, "<nosuch@example.test>"),
     SMFIR_CONTINUE)
step("RCPT <@>: an address that names no mailbox",
     mt.rcptto(conn, "<@example.test>"), SMFIR_CONTINUE)
if mt.header(conn, "Subject", "metrics") ~= nil then
	error("header failed")
end
if mt.eoh(conn) ~= nil then
	error("eoh failed")
end
if mt.bodystring(conn, "hello\r\n") ~= nil then
	error("body failed")
end
step("end of message", mt.eom(conn), SMFIR_CONTINUE)
step("second MAIL FROM, SIZE over the whole limit",
     mt.mailfrom(conn, "<sender@remote.test>", "SIZE=2000000"),
     SMFIR_CONTINUE)
step("RCPT alice: toolarge", mt.rcptto(conn, "<alice@example.test>"),
     SMFIR_REPLYCODE)
step("RCPT carol: noquota", mt.rcptto(conn, "<carol@example.test>"),
     SMFIR_CONTINUE)
mt.disconnect(conn)
