// What the tests share: the URL of the `miniapp dev` that scripts/test-todo.sh started, fresh dev
// users, and a second device (the SDK over fetch) to look at or change the data from elsewhere.
'use strict';

const crypto = require('node:crypto');
const { createClient, memoryStorage } = require('@miniapp/client');

function apiUrl() {
  const url = process.env.MINIAPP_URL;
  if (!url) throw new Error('MINIAPP_URL is not set: run the tests with bash scripts/test-todo.sh');
  return url.replace(/\/$/, '');
}

/** A dev auth code of a user nobody else uses: `dev-user-<prefix><random>`. */
function freshUser(prefix) {
  const name = `${prefix}${crypto.randomBytes(6).toString('hex')}`;
  return { code: `dev-user-${name}`, userId: `dev-openid-${name}` };
}

/** The SDK over fetch with its own storage, signed in with `code` (or with `storage`'s session). */
async function otherDevice(code, storage = memoryStorage()) {
  const client = createClient({ baseUrl: apiUrl(), transport: 'fetch', storage });
  if (code) await client.login(code);
  return client;
}

module.exports = { apiUrl, freshUser, otherDevice };
