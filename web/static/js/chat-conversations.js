// Conversation objects (docs/IM.md "Conversation"): merging copies, titles, unread counts. Pure
// functions, no DOM, no network.

/** The time a conversation was last active (ISO string, for sorting the list). */
export function lastActivity(conv) {
  return (conv.last_message && conv.last_message.created_at) || conv.created_at || "";
}

/** A newer copy of a conversation merged over the one held: read positions never move back. */
export function mergeConversation(old, conv) {
  const merged = { ...conv };
  if (!old) return merged;
  merged.last_seq = Math.max(old.last_seq || 0, conv.last_seq || 0);
  merged.read_seq = Math.max(old.read_seq || 0, conv.read_seq || 0);
  const oldMembers = new Map((old.members || []).map((m) => [m.user_id, m]));
  merged.members = (conv.members || []).map((m) => {
    const o = oldMembers.get(m.user_id);
    return o ? { ...m, read_seq: Math.max(o.read_seq || 0, m.read_seq || 0) } : m;
  });
  if (old.last_message && (!conv.last_message || old.last_message.seq > conv.last_message.seq)) {
    merged.last_message = old.last_message;
  }
  merged.unread = Math.max(0, merged.last_seq - merged.read_seq);
  return merged;
}

/** The display title: the conversation's title, or the other members' names. */
export function conversationTitle(conv, userId) {
  if (!conv) return "Conversation";
  if (conv.title) return conv.title;
  const others = (conv.members || []).filter((m) => m.user_id !== userId).map((m) => m.name || "Someone");
  return others.join(", ") || "Conversation";
}

/**
 * Unread messages worth a badge. With the unread range held (`messages`, all past the read
 * position down to it): others' messages that are not system lines or tombstones. Otherwise the
 * server's count, or 0 when the user wrote the newest message (they saw everything before it).
 */
export function countUnread(conv, messages, complete, userId) {
  const readSeq = conv.read_seq || 0;
  if (!complete) {
    const last = conv.last_message;
    return last && last.sender_id === userId && last.seq >= (conv.last_seq || 0) ? 0 : conv.unread || 0;
  }
  let n = 0;
  for (const m of messages) {
    if (m.seq > readSeq && m.type !== "system" && !m.recalled && m.sender_id !== userId) n++;
  }
  return n;
}
