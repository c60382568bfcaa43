// Photos of todos: a todo's `data.photo` is a file id (docs/api.md §9). The bytes go straight
// from the browser to storage (files.upload); a short-lived link shows them, fetched once per
// id and again when it has expired.

const links = new Map();

/** Asks for an image file; resolves to it, or to null when the person cancels. */
export function choosePhoto() {
  return new Promise((resolve) => {
    const input = Object.assign(document.createElement('input'), { type: 'file', accept: 'image/*' });
    input.addEventListener('change', () => resolve(input.files[0] || null));
    input.addEventListener('cancel', () => resolve(null));
    input.click();
  });
}

/** Uploads `file`; resolves to its file id. */
export async function uploadPhoto(client, file) {
  const uploaded = await client.files.upload({ blob: file, name: file.name || 'photo', contentType: file.type || 'image/png' });
  return uploaded.id;
}

/** A thumbnail of file `id` that opens the photo in a new tab; its link is fetched as needed. */
export function thumbnail(client, id, label) {
  const img = Object.assign(document.createElement('img'), { className: 'thumb', alt: label });
  const link = Object.assign(document.createElement('a'), { className: 'thumb-link', target: '_blank', rel: 'noopener' });
  link.append(img);
  let retried = false;
  const show = (url) => {
    img.src = url;
    link.href = url;
  };
  const fetchLink = () =>
    client.files.url(id).then(
      (url) => {
        links.set(id, url);
        show(url);
      },
      () => link.classList.add('missing'),
    );
  img.addEventListener('error', () => {
    // An expired link: one fresh one.
    if (retried) return link.classList.add('missing');
    retried = true;
    links.delete(id);
    fetchLink();
  });
  if (links.has(id)) show(links.get(id));
  else fetchLink();
  return link;
}

/** Forgets a deleted photo (best effort: a leftover file is only the user's own). */
export function forgetPhoto(client, id) {
  links.delete(id);
  return client.files.remove(id).catch(() => undefined);
}
