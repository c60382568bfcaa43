// What the Todo page shows, as plain functions of the SDK's items (no `my`, no `this`): the
// Mini Program page and its tests share them.

/** The row of one stored item `{id, version, createdAt, updatedAt, data}`. */
function toRow(item) {
  const data = item.data || {};
  return {
    id: item.id,
    version: item.version,
    title: typeof data.title === 'string' ? data.title : '',
    done: data.done === true,
    updatedAt: item.updatedAt,
    // A file id (docs/api.md §9); its short-lived link is fetched separately (photoUrl).
    photo: typeof data.photo === 'string' ? data.photo : '',
    photoUrl: '',
  };
}

/** The content type of a picked image, from its path's extension. */
function imageType(filePath) {
  const ext = (/\.([a-z0-9]+)$/i.exec(String(filePath)) || [])[1];
  const types = { png: 'image/png', gif: 'image/gif', webp: 'image/webp', heic: 'image/heic' };
  return types[String(ext).toLowerCase()] || 'image/jpeg';
}

/** `rows` with the page's rows appended; an id already shown is not shown twice. */
function appendRows(rows, items) {
  const seen = {};
  rows.forEach((r) => {
    seen[r.id] = true;
  });
  return rows.concat(items.filter((it) => !seen[it.id]).map(toRow));
}

/** `rows` with the row of `item` in place of the row of the same id. */
function replaceRow(rows, item) {
  return rows.map((r) => (r.id === item.id ? toRow(item) : r));
}

/** How many rows are not done yet. */
function countLeft(rows) {
  return rows.filter((r) => !r.done).length;
}

/** Most operations in one `db.batch` (docs/api.md §4.6). */
const MAX_BATCH = 25;

/**
 * The batches that delete `items` (the completed todos, as just read), each delete pinned to
 * the version read: a todo changed meanwhile elsewhere (un-completed, renamed) makes its batch
 * fail whole, and nothing of that batch is deleted. One batch for up to 25 todos.
 */
function clearBatches(collection, items) {
  const ops = items.map((it) => ({ op: 'delete', collection, id: it.id, ifMatch: it.version }));
  const batches = [];
  for (let i = 0; i < ops.length; i += MAX_BATCH) batches.push(ops.slice(i, i + MAX_BATCH));
  return batches;
}

/** A title as typed: trimmed, at most 200 characters; '' when nothing is left. */
function cleanTitle(text) {
  return String(text == null ? '' : text).trim().slice(0, 200);
}

/** What went wrong, in words for a toast. */
function messageOf(err) {
  const code = err && err.code;
  if (code === 'PreconditionFailed') return 'Changed on another device: list reloaded';
  if (code === 'NotFound') return 'Already deleted elsewhere: list reloaded';
  if (code === 'NetworkError' || code === 'Timeout') return 'No connection: try again';
  if (code === 'AuthCodeInvalid') return 'Sign-in refused: try again';
  if (code === 'FileTooLarge' || code === 'EntityTooLarge') return 'That photo is too large';
  if (code === 'UnsupportedFileType') return 'That file type cannot be attached';
  if (code === 'FileQuotaExceeded') return 'No room for more photos: delete some first';
  return (err && err.message) || 'Something went wrong';
}

/** Whether the list must be read again after `err` (someone else changed it). */
function needsReload(err) {
  const code = err && err.code;
  return code === 'PreconditionFailed' || code === 'NotFound';
}

module.exports = {
  toRow,
  appendRows,
  replaceRow,
  countLeft,
  clearBatches,
  cleanTitle,
  messageOf,
  needsReload,
  imageType,
};
