// Attachments over HTTP: upload with progress (XMLHttpRequest, since fetch reports no upload
// progress) and the URLs that <img>/<audio>/<video>/<a> use (the token goes in ?token=, the
// server sends no Referer-leaking pages). Contract: docs/IM.md.
import { CallError, describeError } from "./errors.js";

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

/** The message type for a file's MIME type: image, audio, video, or file. */
export function attachmentKind(mime) {
  const type = String(mime || "").toLowerCase();
  if (IMAGE_TYPES.has(type)) return "image";
  if (type.startsWith("audio/")) return "audio";
  if (type.startsWith("video/")) return "video";
  return "file";
}

/** The download URL of an attachment (Range-served), with the token for element src. */
export function attachmentUrl(attachmentId, token) {
  return `/api/v1/attachments/${encodeURIComponent(attachmentId)}?token=${encodeURIComponent(token)}`;
}

/** The JPEG thumbnail URL of an image attachment. */
export function thumbnailUrl(attachmentId, token) {
  return `/api/v1/attachments/${encodeURIComponent(attachmentId)}/thumbnail?token=${encodeURIComponent(token)}`;
}

/** "1.2 MB" and the like. */
export function formatSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * POST the file's bytes to /api/v1/conversations/{id}/attachments?filename=&type= and resolve
 * with the Attachment; `onProgress(fraction)` follows the upload, `onXhr(xhr)` allows abort().
 * Rejects with a CallError (the server's code, "network", or "aborted").
 */
export function uploadAttachment({ conversationId, file, token, kind = attachmentKind(file.type), onProgress, onXhr }) {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams({ filename: file.name || "file", type: kind });
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/conversations/${encodeURIComponent(conversationId)}/attachments?${q}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "json";
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && onProgress) onProgress(ev.total ? ev.loaded / ev.total : 0);
    };
    xhr.onload = () => {
      const body = xhr.response;
      if (xhr.status === 201 || xhr.status === 200) {
        if (body && body.id) resolve(body);
        else reject(new CallError("bad_response", "The server gave no attachment for the upload."));
        return;
      }
      const code = (body && body.error && body.error.code) || (xhr.status === 413 ? "payload_too_large" : "error");
      reject(new CallError(code, describeError(code, body && body.error && body.error.message)));
    };
    xhr.onerror = () => reject(new CallError("network", describeError("network")));
    xhr.onabort = () => reject(new CallError("aborted", "The upload was cancelled."));
    if (onXhr) onXhr(xhr);
    xhr.send(file);
  });
}
