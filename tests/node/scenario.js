#!/usr/bin/env node
// The scenario of tests/three_ways.py through the official twilio Node library, with the client made as
// code that cannot be changed makes it: from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, no baseUrl. Prints
// what it saw as JSON (the keys of three_ways.py). tests/test_proxy.py runs it through the proxy.
"use strict";

const twilio = require("twilio");

async function main() {
  const client = twilio();
  const service = await client.conversations.v1.services.create({ friendlyName: "three ways" });
  const hooks = client.conversations.v1.services(service.sid).configuration.webhooks();
  await hooks.update({
    filters: ["onMessageAdded", "onConversationAdded"],
    method: "POST",
    postWebhookUrl: "https://example.com/hooks",
  });
  const fetched = await hooks.fetch();
  let error = {};
  try {
    await hooks.update({ filters: ["onNothingAtAll"] });
  } catch (refused) {
    error = { status: refused.status, code: refused.code };
  }
  const again = await client.conversations.v1.services(service.sid).fetch();
  const removed = await client.conversations.v1.services(service.sid).remove();
  const result = {
    sid: service.sid,
    friendly_name: again.friendlyName,
    filters: fetched.filters,
    method: fetched.method,
    error,
    removed,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((failure) => {
  process.stderr.write(`${failure.stack || failure}\n`);
  process.exit(1);
});
