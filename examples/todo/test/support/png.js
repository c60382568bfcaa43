// A small real PNG (RGB, 8 bits) drawn in code: a sunset over hills, so that the photo the
// browser test attaches looks like one in the screenshot.
'use strict';

const zlib = require('node:zlib');

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));

function pixel(x, y, size) {
  const sky = mix([255, 170, 110], [120, 110, 220], y / size);
  const sun = Math.hypot(x - size * 0.62, y - size * 0.42) < size * 0.16;
  const hill = y > size * (0.68 + 0.08 * Math.sin((x / size) * Math.PI * 2));
  const far = y > size * (0.6 + 0.06 * Math.cos((x / size) * Math.PI * 3));
  if (hill) return mix([64, 150, 96], [30, 90, 60], (y - size * 0.6) / (size * 0.4));
  if (far) return [110, 160, 140];
  return sun ? [255, 236, 150] : sky;
}

/** A `size`×`size` PNG. */
function sunsetPng(size = 160) {
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) Buffer.from(pixel(x, y, size)).copy(row, 1 + x * 3);
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

module.exports = { sunsetPng };
