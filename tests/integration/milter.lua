-- milter.lua - quotachk-milter through miltertest, a milter client
-- independent of Postfix and Sendmail (tests/integration/milter-postfix.sh
-- runs it with -D port=PORT against the private Cyrus fixtures).
-- Every step prints "ok - ..." or stops the script with an error.

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

step("MAIL FROM with SIZE=1000", mt.mailfrom(conn, "<sender@remote.test>",
     "SIZE=1000"), SMFIR_CONTINUE)
step("RCPT alice (room): continue", mt.rcptto(conn, "<alice@example.test>"),
     SMFIR_CONTINUE)
step("RCPT bob (over quota): a reply code (452)",
     mt.rcptto(conn, "<bob@example.test>"), SMFIR_REPLYCODE)
step("RCPT dave (message count): a reply code (452)",
     mt.rcptto(conn, "<dave@example.test>"), SMFIR_REPLYCODE)
step("RCPT nosuch (no mailbox): continue (action_nouser DUNNO)",
     mt.rcptto(conn, "<nosuch@example.test>"), SMFIR_CONTINUE)
for _, hostile in ipairs({"<\"a\\\"b{5+}\"@example.test>",
		       "<a\r\nQ9 LOGOUT@example.test>",
		       "<caf\195\169@example.test>",
		       "<" .. string.rep("x", 600) .. "@example.test>",
		       "<>", "<@>", "<bob%example.test>"}) do
	step("RCPT with a hostile address " .. string.format("%q",
	     string.sub(hostile, 1, 40)) .. ": continue, no crash",
	     mt.rcptto(conn, hostile), SMFIR_CONTINUE)
end
if mt.header(conn, "Subject", "miltertest") ~= nil then
	error("header failed")
end
if mt.eoh(conn) ~= nil then
	error("eoh failed")
end
if mt.bodystring(conn, "hello\r\n") ~= nil then
	error("body failed")
end
step("end of message: accepted", mt.eom(conn), SMFIR_CONTINUE)

step("second message, SIZE larger than the whole limit",
     mt.mailfrom(conn, "<sender@remote.test>", "SIZE=2000000"),
     SMFIR_CONTINUE)
step("RCPT alice: a reply code (552)", mt.rcptto(conn, "<alice@example.test>"),
     SMFIR_REPLYCODE)
step("RCPT carol (no quota): continue", mt.rcptto(conn, "<carol@example.test>"),
     SMFIR_CONTINUE)
mt.disconnect(conn)
mt.echo("ok - disconnected")
