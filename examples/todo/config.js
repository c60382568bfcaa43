// Where the Todo app finds its API, and how it pages the list.
//
// `miniapp dev` listens on 127.0.0.1:3000, which the Mini Program IDE's simulator can reach
// (turn off its domain check for local development). A phone cannot: point `apiBase` at your
// deployed API (added to the Mini Program's allowed request domains) for a device preview.
module.exports = {
  apiBase: 'http://127.0.0.1:3000',
  collection: 'todos',
  pageSize: 20,
};
