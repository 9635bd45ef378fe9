// The mailpit-api npm client (Mailpit's own REST client) against the
// testbed, as test code written for Mailpit calls it. argv[2] is JSON:
// {"http": N, "smtp": N}. Messages are expected to be there already (the
// caller sends them); one more arrives through nodemailer while
// waitForMessage() polls. Every result, or the error a call threw, goes
// to stdout as one JSON object for the caller to check.
import { MailpitClient } from "mailpit-api";
import nodemailer from "nodemailer";

const o = JSON.parse(process.argv[2]);
const mailpit = new MailpitClient(`http://127.0.0.1:${o.http}`);
const out = {};

async function step(name, call) {
  try {
    const value = await call();
    out[name] = value instanceof Blob ? { blob: await value.text(), type: value.type } : value;
  } catch (e) {
    out[name] = { error: e.message };
  }
  return out[name];
}

await step("info", () => mailpit.getInfo());
const list = await step("list", () => mailpit.listMessages());
const first = list.messages[list.messages.length - 1].ID;
await step("latest", () => mailpit.getMessageSummary());
const summary = await step("summary", () => mailpit.getMessageSummary(first));
await step("headers", () => mailpit.getMessageHeaders(first));
await step("source", () => mailpit.getMessageSource(first));
await step("search", () => mailpit.searchMessages({ query: 'subject:"second message"' }));
await step("searchNone", () => mailpit.searchMessages({ query: "-from:shop@example.com" }));
await step("setUnread", () => mailpit.setReadStatus({ IDs: [first], Read: false }));
await step("afterUnread", () => mailpit.searchMessages({ query: "is:unread" }));
await step("setReadBySearch", () => mailpit.setReadStatus({ Search: "tag:alpha", Read: true }));
await step("afterReadBySearch", () => mailpit.searchMessages({ query: "is:read" }));
await step("setTags", () => mailpit.setTags({ IDs: [first], Tags: ["x-one", "y two"] }));
await step("tags", () => mailpit.getTags());
await step("renameTag", () => mailpit.renameTag("x-one", "renamed"));
await step("deleteTag", () => mailpit.deleteTag("y two"));
await step("tagsAfter", () => mailpit.getTags());
const part = summary.Attachments && summary.Attachments[0] ? summary.Attachments[0].PartID : "2";
await step("attachment", () => mailpit.getMessageAttachment(first, part));
await step("text", () => mailpit.renderMessageText(first));
await step("html", () => mailpit.renderMessageHTML(first));
await step("send", () =>
  mailpit.sendMessage({
    From: { Email: "api@example.com", Name: "The API" },
    To: [{ Email: "someone@example.org", Name: "Someone" }],
    Bcc: ["hidden@example.org"],
    Subject: "via api",
    Text: "sent through the API",
    HTML: "<p>sent <b>through</b> the API</p>",
    Tags: ["from-api"],
    Headers: { "X-Custom": "yes" },
    Attachments: [{ Filename: "note.txt", Content: Buffer.from("attached text").toString("base64") }],
  }),
);
await step("sentSummary", () => mailpit.getMessageSummary(out.send.ID));
// waitForMessage polls the search until the message is there; it comes in over SMTP meanwhile.
const waiting = step("waited", () => mailpit.waitForMessage({ query: 'subject:"late one"' }, { timeout: 15000, interval: 100 }));
const transport = nodemailer.createTransport({ host: "127.0.0.1", port: o.smtp, ignoreTLS: true });
await transport.sendMail({ from: "late@example.com", to: "waiter@example.org", subject: "late one", text: "here now" });
await waiting;
await step("waitedMany", () => mailpit.waitForMessages({ query: "to:waiter@example.org", count: 1 }, { timeout: 5000, interval: 100 }));
await step("deleteBySearch", () => mailpit.deleteMessagesBySearch({ query: 'subject:"via api"' }));
await step("afterDeleteBySearch", () => mailpit.listMessages());
await step("deleteOne", () => mailpit.deleteMessages({ IDs: [first] }));
await step("afterDeleteOne", () => mailpit.listMessages());
await step("missing", () => mailpit.getMessageSummary("0000000000000000"));
await step("badSearch", () => mailpit.searchMessages({ query: "before:someday" }));
await step("chaos", () => mailpit.getChaosTriggers());
await step("deleteAll", () => mailpit.deleteMessages());
await step("afterDeleteAll", () => mailpit.listMessages());
console.log(JSON.stringify(out));
