// The Todo List Mini Program: one SDK client for the whole app. The client keeps the session in
// my.setStorageSync, signs every request and refreshes its credentials by itself.
const { createClient } = require('@miniapp/client');
const config = require('./config');

App({
  onLaunch() {
    this.client = createClient({ baseUrl: config.apiBase });
  },
});
