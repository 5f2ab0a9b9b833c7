#!/usr/bin/env node
// Runs a list of Conversations calls through the official twilio Node library (6.3.1) against the
// emulator and prints one JSON document on stdout; tests/test_node_sdk.py asserts on it.
//
//   EMULATOR_BASE_URL=http://127.0.0.1:PORT TWILIO_USERNAME=AC... TWILIO_PASSWORD=... \
//   [TWILIO_ACCOUNT=AC...] [TWILIO_AUTO_RETRY=N] node run_calls.js '<steps as JSON>'
//
// TWILIO_AUTO_RETRY=N turns on the library's own retry of 429 answers (autoRetry, at most N retries).
//
// A step is {"call": NAME, ...}; NAME is one of
//   webhooks.fetch   {"service": sid}
//   webhooks.update  {"service": sid, "params": {...}}   (params as the library takes them, camelCase)
//   services.create  {"params": {"friendlyName": ...}}
//   services.fetch   {"sid": sid}
//   services.remove  {"sid": sid}
//   services.list    {"params": {"pageSize": ..., "limit": ...}}
// and, for conversations and the three resources under a conversation,
//   conversations.create  {"service"?: sid, "params": {...}}
//   conversations.fetch   {"service"?: sid, "sid": sid-or-unique-name}
//   conversations.update  {"service"?: sid, "sid": sid-or-unique-name, "params": {...}}
//   conversations.remove  {"service"?: sid, "sid": sid-or-unique-name, "params"?: {...}}
//   conversations.list    {"service"?: sid, "params": {"pageSize": ..., "limit": ..., "state": ...}}
//   participants.create|fetch|update|remove|list    as conversations.*, plus "conversation": sid-or-name
//   messages.create|fetch|update|remove|list        likewise
//   scopedWebhooks.create|fetch|update|remove|list  likewise (conversation.webhooks; remove takes no params)
// Without "service" a call goes through the short form, client.conversations.v1.conversations; with it,
// through client.conversations.v1.services(service).conversations. "sid" names the conversation for
// conversations.*, else the participant, message or webhook under "conversation"; create and list take none.
// Params are the library's own names, dotted where it dots them ("timers.inactive",
// "messagingBinding.address", "configuration.filters"); a value {"$date": "<ISO 8601>"} is passed as a Date.
// A string "$N.key" in "service", "conversation" or "sid" is the value `key` of step N's result (e.g. "$0.sid").
//
// Output: {"version": "<twilio version>", "results": [...]}, one result per step:
//   {"ok": true, "value": <instance.toJSON(), or the list of them, or the boolean of remove>,
//    "requests": [{"method", "url", "authorization", "webhookEnabled", "body"}]}
//   {"ok": false, "error": {"name", "status", "code", "message", "moreInfo"}, "requests": [...]}
// where "requests" are the HTTP requests the library sent for that step, the body exactly as sent, and
// "webhookEnabled" its X-Twilio-Webhook-Enabled header (null when not sent).
"use strict";

const twilio = require("twilio");
const twilioVersion = require("twilio/package.json").version;

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`run_calls.js: environment variable ${name} is not set\n`);
    process.exit(2);
  }
  return value;
}

function resolve(value, results) {
  if (typeof value !== "string" || !value.startsWith("$")) {
    return value;
  }
  const [index, key] = value.slice(1).split(".");
  const earlier = results[Number(index)];
  if (!earlier || !earlier.ok) {
    throw new Error(`step reference ${value} points at a step that did not succeed`);
  }
  return earlier.value[key];
}

function describeError(error) {
  return {
    name: error && error.constructor ? error.constructor.name : typeof error,
    status: error.status === undefined ? null : error.status,
    code: error.code === undefined ? null : error.code,
    message: error.message === undefined ? null : error.message,
    moreInfo: error.moreInfo === undefined ? null : error.moreInfo,
  };
}

// Step params as the library takes them: {"$date": ...} becomes a Date, as a caller would pass one.
function libraryParams(params) {
  const converted = {};
  for (const [name, item] of Object.entries(params || {})) {
    const isDate = item !== null && typeof item === "object" && !Array.isArray(item) && "$date" in item;
    converted[name] = isDate ? new Date(item.$date) : item;
  }
  return converted;
}

// The conversations list of the step's path form.
function conversationList(v1, step, results) {
  if (step.service === undefined) {
    return v1.conversations;
  }
  return v1.services(resolve(step.service, results)).conversations;
}

// The step names of the resources under a conversation, and the conversation's property listing each.
const UNDER_CONVERSATION = { participants: "participants", messages: "messages", scopedWebhooks: "webhooks" };

// The list a step's resource lives in: conversations, or a collection under one of them.
function resourceList(v1, resource, step, results) {
  const conversations = conversationList(v1, step, results);
  if (resource === "conversations") {
    return conversations;
  }
  return conversations(resolve(step.conversation, results))[UNDER_CONVERSATION[resource]];
}

async function operate(list, operation, step, results) {
  const params = libraryParams(step.params);
  switch (operation) {
    case "create":
      return (await list.create(params)).toJSON();
    case "list":
      return (await list.list(params)).map((item) => item.toJSON());
    case "fetch":
      return (await list(resolve(step.sid, results)).fetch()).toJSON();
    case "update":
      return (await list(resolve(step.sid, results)).update(params)).toJSON();
    case "remove": {
      const context = list(resolve(step.sid, results));
      return step.params === undefined ? await context.remove() : await context.remove(params);
    }
    default:
      throw new Error(`unknown call ${JSON.stringify(step.call)}`);
  }
}

async function perform(conversations, step, results) {
  const services = conversations.v1.services;
  const [resource, operation] = String(step.call).split(".");
  if (resource === "conversations" || Object.hasOwn(UNDER_CONVERSATION, resource)) {
    return operate(resourceList(conversations.v1, resource, step, results), operation, step, results);
  }
  switch (step.call) {
    case "webhooks.fetch":
      return (await services(resolve(step.service, results)).configuration.webhooks().fetch()).toJSON();
    case "webhooks.update":
      return (
        await services(resolve(step.service, results)).configuration.webhooks().update(step.params || {})
      ).toJSON();
    case "services.create":
      return (await services.create(step.params)).toJSON();
    case "services.fetch":
      return (await services(resolve(step.sid, results)).fetch()).toJSON();
    case "services.remove":
      return await services(resolve(step.sid, results)).remove();
    case "services.list":
      return (await services.list(step.params || {})).map((service) => service.toJSON());
    default:
      throw new Error(`unknown call ${JSON.stringify(step.call)}`);
  }
}

async function main() {
  const baseUrl = required("EMULATOR_BASE_URL");
  const username = required("TWILIO_USERNAME");
  const password = required("TWILIO_PASSWORD");
  const options = process.env.TWILIO_ACCOUNT ? { accountSid: process.env.TWILIO_ACCOUNT } : {};
  if (process.env.TWILIO_AUTO_RETRY) {
    Object.assign(options, {
      autoRetry: true,
      maxRetries: Number(process.env.TWILIO_AUTO_RETRY),
      maxRetryDelay: 200,
    });
  }
  const steps = JSON.parse(process.argv[2] || "[]");

  const client = twilio(username, password, options);
  client.conversations.baseUrl = baseUrl;

  // Record every request as it goes on the wire (the body already form-encoded by the library).
  let sent = [];
  client.httpClient.axios.interceptors.request.use((config) => {
    const headers = config.headers || {};
    sent.push({
      method: String(config.method).toUpperCase(),
      url: client.httpClient.axios.getUri(config),
      authorization: headers.Authorization || headers.authorization || null,
      webhookEnabled: headers["X-Twilio-Webhook-Enabled"] || headers["x-twilio-webhook-enabled"] || null,
      body: config.data === undefined ? null : config.data,
    });
    return config;
  });

  const results = [];
  for (const step of steps) {
    sent = [];
    try {
      const value = await perform(client.conversations, step, results);
      results.push({ ok: true, value, requests: sent });
    } catch (error) {
      results.push({ ok: false, error: describeError(error), requests: sent });
    }
  }
  process.stdout.write(JSON.stringify({ version: twilioVersion, results }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`run_calls.js: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
