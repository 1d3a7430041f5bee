// The message composer: text input (Enter sends, Shift+Enter breaks the line), a small emoji
// picker, file picking (button, paste, drop) and the typing signals. No network.
import { icon } from "./icons.js";

/** The emoji offered by the picker (emoji are plain Unicode in the message text). */
export const EMOJI = [
  ["😀", "grinning face"], ["😂", "tears of joy"], ["😊", "smiling face"], ["😍", "heart eyes"],
  ["😢", "crying face"], ["😮", "surprised face"], ["👍", "thumbs up"], ["👏", "clapping hands"],
  ["🙏", "folded hands"], ["👋", "waving hand"], ["❤️", "red heart"], ["🎉", "party popper"],
  ["✅", "check mark"], ["❌", "cross mark"], ["🤒", "face with thermometer"], ["💊", "pill"],
  ["🩺", "stethoscope"], ["🌡️", "thermometer"], ["☕", "hot drink"], ["🌞", "sun"],
  ["🌙", "moon"], ["💪", "flexed biceps"], ["🤝", "handshake"], ["😴", "sleeping face"],
];

let uid = 0;

function button(className, label, iconName) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.setAttribute("aria-label", label);
  b.title = label;
  if (iconName) b.append(icon(iconName));
  return b;
}

/** The composer; `element` is its <form>, to be placed by the panel. */
export class Composer {
  /**
   * @param {{onSend: (text: string) => void, onFiles: (files: File[]) => void,
   *          onTyping: () => void, onStopTyping: () => void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    const id = `chat-input-${++uid}`;
    const form = document.createElement("form");
    form.className = "chat-composer";
    form.noValidate = true;
    this.element = form;

    this.picker = document.createElement("div");
    this.picker.className = "chat-emoji-picker";
    this.picker.id = `${id}-emoji`;
    this.picker.setAttribute("role", "group");
    this.picker.setAttribute("aria-label", "Emoji");
    this.picker.hidden = true;
    for (const [emoji, name] of EMOJI) {
      const b = button("chat-emoji-choice", `Insert ${name}`);
      b.textContent = emoji;
      b.dataset.emoji = emoji;
      b.addEventListener("click", () => this.insert(emoji));
      this.picker.append(b);
    }

    this.emojiBtn = button("chat-tool chat-emoji", "Insert emoji", "emoji");
    this.emojiBtn.setAttribute("aria-expanded", "false");
    this.emojiBtn.setAttribute("aria-controls", this.picker.id);
    this.emojiBtn.addEventListener("click", () => this.togglePicker());

    this.fileInput = document.createElement("input");
    this.fileInput.type = "file";
    this.fileInput.multiple = true;
    this.fileInput.className = "chat-file";
    this.fileInput.hidden = true;
    this.fileInput.tabIndex = -1;
    this.fileInput.addEventListener("change", () => {
      const files = Array.from(this.fileInput.files || []);
      this.fileInput.value = "";
      if (files.length) handlers.onFiles(files);
    });
    this.attachBtn = button("chat-tool chat-attach", "Attach a file", "attach");
    this.attachBtn.addEventListener("click", () => this.fileInput.click());

    const label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = id;
    label.textContent = "Message";
    this.input = document.createElement("textarea");
    this.input.id = id;
    this.input.className = "chat-input";
    this.input.rows = 1;
    this.input.maxLength = 4000;
    this.input.placeholder = "Write a message…";
    this.input.autocomplete = "off";
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      } else if (ev.key === "Escape" && !this.picker.hidden) {
        this.togglePicker(false);
      }
    });
    this.input.addEventListener("input", () => {
      this.autosize();
      if (this.input.value.trim()) handlers.onTyping();
      else handlers.onStopTyping();
    });
    this.input.addEventListener("blur", () => handlers.onStopTyping());
    this.input.addEventListener("paste", (ev) => {
      const files = Array.from((ev.clipboardData && ev.clipboardData.files) || []);
      if (files.length) {
        ev.preventDefault();
        handlers.onFiles(files);
      }
    });

    this.sendBtn = button("chat-tool chat-send", "Send", "send");
    this.sendBtn.type = "submit";
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    form.addEventListener("dragover", (ev) => {
      if (ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files")) ev.preventDefault();
    });
    form.addEventListener("drop", (ev) => {
      const files = Array.from((ev.dataTransfer && ev.dataTransfer.files) || []);
      if (files.length) {
        ev.preventDefault();
        handlers.onFiles(files);
      }
    });
    this.picker.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        this.togglePicker(false);
        this.emojiBtn.focus();
      }
    });
    document.addEventListener("click", (ev) => {
      if (!this.picker.hidden && !this.picker.contains(ev.target) && !this.emojiBtn.contains(ev.target)) {
        this.togglePicker(false);
      }
    });

    form.append(this.picker, this.emojiBtn, this.attachBtn, this.fileInput, label, this.input, this.sendBtn);
  }

  /** Send the text (trimmed; nothing if empty) and clear the input. */
  submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = "";
    this.autosize();
    this.togglePicker(false);
    this.handlers.onSend(text.trim());
    this.input.focus();
  }

  /** Insert text (an emoji) at the caret. */
  insert(text) {
    const el = this.input;
    const start = el.selectionStart ?? el.value.length;
    const end = el.selectionEnd ?? el.value.length;
    el.setRangeText(text, start, end, "end");
    el.focus();
    el.dispatchEvent(new Event("input"));
  }

  /** Open or close the emoji picker. */
  togglePicker(open = this.picker.hidden) {
    this.picker.hidden = !open;
    this.emojiBtn.setAttribute("aria-expanded", String(open));
    if (open) {
      const first = this.picker.querySelector("button");
      if (first) first.focus();
    }
  }

  /** Grow the input with its text, up to the CSS max-height. */
  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${this.input.scrollHeight}px`;
  }

  /** Enable or disable the whole composer (no conversation open, not allowed). */
  setEnabled(enabled) {
    for (const c of [this.input, this.sendBtn, this.attachBtn, this.emojiBtn]) c.disabled = !enabled;
  }

  focus() {
    this.input.focus();
  }
}
