// One message through nodemailer, as a Node.js app would send it. Options
// come as JSON in argv[2]; the outcome goes to stdout as JSON:
// {"ok": true, "response": "250 ..."} or {"ok": false, "responseCode": N, "response": "..."}.
const nodemailer = require("nodemailer");

const o = JSON.parse(process.argv[2]);
const transport = nodemailer.createTransport({
  host: "127.0.0.1",
  port: o.port,
  secure: !!o.secure,
  ignoreTLS: !o.starttls,
  requireTLS: !!o.starttls,
  tls: { rejectUnauthorized: false },
  auth: o.user ? { user: o.user, pass: o.pass } : undefined,
  connectionTimeout: 20000,
  greetingTimeout: 20000,
  socketTimeout: 20000,
});
transport
  .sendMail({ from: o.from, to: o.to, subject: o.subject || "from nodemailer", text: o.text || "hello\n",
              html: o.html, attachments: o.attachments })
  .then((info) => console.log(JSON.stringify({ ok: true, response: info.response })))
  .catch((e) => console.log(JSON.stringify({ ok: false, responseCode: e.responseCode, response: e.response,
                                             message: e.message })));
