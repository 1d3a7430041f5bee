// Human messages for the protocol's stable error codes (docs/PROTOCOL.md, docs/IM.md).
const MESSAGES = {
  // connect_error (auth on connect)
  token_missing: "You are not signed in. Sign in to join the call.",
  token_invalid: "Your sign-in link is not valid. Sign in again to join the call.",
  token_expired: "Your session has expired. Sign in again to join the call.",
  token_audience: "This sign-in link is for another server. Sign in here to join the call.",
  user_disabled: "Your account is disabled or no longer exists. Contact your administrator.",
  // room:join
  room_full: "This room is full. Try again later or ask the host to make space.",
  room_forbidden: "You are not allowed to join this room. Check the room name or ask for an invitation.",
  already_in_room: "This connection is already in a room. Reload the page.",
  // media
  not_in_room: "You are no longer in the room. Reload the page to rejoin.",
  permission_denied: "Your role is not allowed to do that in this room.",
  not_publishing: "That source is not being sent.",
  bad_sdp: "The media setup was refused by the server (bad SDP).",
  negotiation_failed: "Media could not be set up with the server.",
  no_offer_pending: "The media setup got out of step with the server.",
  bad_request: "The server refused the request (bad request).",
  unknown_event: "The server does not support this action.",
  internal_error: "The server hit an internal error. Try again in a moment.",
  timeout: "The server did not answer in time.",
  network: "Cannot reach the server.",
  // messaging (docs/IM.md)
  conversation_not_found: "This conversation does not exist or you are not a member of it.",
  message_not_found: "That message no longer exists.",
  attachment_not_found: "That file is not available.",
  user_not_found: "That person has no account here.",
  not_allowed: "You are not allowed to do that in this conversation.",
  recall_window_passed: "The time to recall this message has passed.",
  already_recalled: "That message was already recalled.",
  client_msg_id_conflict: "The message could not be sent (duplicate id). Send it again.",
  payload_too_large: "The file is too large to send.",
  unsupported_media_type: "This kind of file cannot be sent, or its content does not match its name.",
  image_too_large: "The picture has too many pixels to send. Send a smaller one.",
  // organisations and accounts (docs/CARE.md)
  org_not_found: "That organisation does not exist.",
  conflict: "That clashes with what is already there (a name in use, or the last admin).",
  user_exists: "An account with that name already exists.",
  bad_name: "A name is 1 to 64 letters, digits or _.@+- and starts with a letter or digit.",
  bad_role: "That role does not exist.",
  bad_password: "The password is empty or too long.",
  bad_display_name: "A display name is 1 to 128 characters.",
  too_many_requests: "Too many attempts. Wait a moment and try again.",
};

/** Codes after which retrying the connection cannot help: the user has to sign in again. */
export const AUTH_CODES = new Set(["token_missing", "token_invalid", "token_expired", "token_audience", "user_disabled"]);

/** A message for a code, falling back to the server's message. */
export function describeError(code, serverMessage) {
  return MESSAGES[code] || serverMessage || "Something went wrong.";
}

/** An Error carrying a protocol error code. */
export class CallError extends Error {
  constructor(code, message) {
    super(message || describeError(code));
    this.name = "CallError";
    this.code = code;
  }
}
