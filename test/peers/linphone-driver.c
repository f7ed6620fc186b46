/*
 * linphone-driver: a liblinphone (5.1) CPM client for the end-to-end tests, driven line by line.
 *
 * Built and run by test/helpers/linphone.ts:
 *   gcc -O1 -Wall -Wno-deprecated-declarations -o .tools/linphone-driver test/peers/linphone-driver.c \
 *      $(pkg-config --cflags --libs linphone) -llinphone -lbctoolbox -lmediastreamer -lortp -lbellesip
 *   linphone-driver --dir DIR --host 127.0.0.21 [--udp-port N] [--tcp-port N] [--log-level L]
 *     --dir        per-instance directory: config (linphonerc), chat database, downloads, log
 *     --host       the only address it binds (SIP over UDP and TCP)
 *     --udp-port / --tcp-port   -1 random (default), 0 disabled, or a port number
 *     --log-level  debug|message|warning|error (default warning); the log goes to DIR/linphone.log
 *
 * stdin: one command per line, "<id> <command> <args>"; <id> is any token without spaces, echoed
 * in the command's single reply {"event":"reply","id":...,"ok":true|false,...}.
 *   register <identity-uri> <proxy-host:port> <udp|tcp> [expires] [nocpim]   account + REGISTER
 *                                         (RFC 3261 §10); nocpim: send bare text/plain
 *   unregister
 *   send <to-uri> <text...>               text/plain (in CPIM) SIP MESSAGE (RFC 3428, RFC 3862);
 *                                         a tel: URI is sent as sip:<number>@<account domain>
 *   send64 <to-uri> <base64 utf-8 text>   the same, any text (newlines included)
 *   sendfile <to-uri> <path> <ft-server-url> [content-type]   FT-over-HTTP upload, then MESSAGE
 *   markread <peer-uri|*>                 display notifications (RFC 5438 §5.2) for unread messages
 *   accept <content-type>                 add a content type the client accepts
 *   autodownload on|off                   download FT-over-HTTP files on receipt (default on)
 *   quit
 * stdout: JSON lines; every line has "event":
 *   ready {host, udpPort, tcpPort, version}
 *   reply {id, ok, error?}; send/send64/sendfile replies add {ref, messageId, state}
 *   registration {state: Progress|Ok|Cleared|Failed, message, identity, contact}; registered {identity}
 *   message-state {ref, messageId, state[, code, reason]}   state changes of a sent message
 *   message-received {messageId, from, to, localAddress, peerAddress, contentType, text, callId, time,
 *     contents:[{contentType, name, size, isFileTransfer, isFile, text|path}],
 *     file:{url, name, size, contentType, path | error}}   (file: FT-over-HTTP, sent once the
 *     download has ended; received IMDNs come as message-received with message/imdn+xml too)
 *   error {message}; log {level, message} (liblinphone errors; everything else is in linphone.log)
 *   stopped
 * Delivery and display notifications (RFC 5438) are requested and sent; outgoing messages in
 * basic chat rooms are wrapped in message/cpim unless the account was registered with nocpim.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linphone/core.h>
#include <linphone/lpconfig.h>
#include <linphone/chat.h>
#include <linphone/api/c-account.h>
#include <linphone/api/c-account-params.h>
#include <linphone/api/c-chat-message.h>
#include <linphone/api/c-chat-message-cbs.h>
#include <linphone/api/c-chat-room.h>
#include <linphone/api/c-content.h>
#include <linphone/api/c-address.h>
#include <linphone/logging.h>

static FILE *out;             /* the JSON channel: the original stdout */
static LinphoneCore *lc;
static LinphoneAccount *account;
static int running = 1;
static int auto_download = 1;
static char dir[4096];
static char download_dir[4200];
static FILE *logfile;

/* ------------------------------------------------------------------ source address of TCP */

/*
 * belle-sip binds its listening sockets to [sip] bind_address but connects its TCP client sockets
 * (SIP over TCP, HTTP for file transfer) without binding them, so the kernel picks 127.0.0.1 as
 * their source for any loopback destination. A proxy that tells its peers apart by source address
 * (or a Via received= check, RFC 3261 §18.2.1) would then see the wrong client. This definition of
 * connect() interposes on the C library's (the executable's symbols come first in the dynamic
 * lookup): an unbound IPv4 stream socket is bound to --host (port 0) before it connects.
 */
static struct in_addr bind_host;
static int bind_host_set;

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	if (!real_connect) real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (bind_host_set && addr && addr->sa_family == AF_INET) {
		int type = 0;
		socklen_t tl = sizeof type;
		struct sockaddr_in cur;
		socklen_t cl = sizeof cur;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
		    getsockname(fd, (struct sockaddr *)&cur, &cl) == 0 && cur.sin_family == AF_INET && cur.sin_port == 0) {
			struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = bind_host};
			(void)bind(fd, (struct sockaddr *)&local, sizeof local);
		}
	}
	return real_connect(fd, addr, len);
}

/* ------------------------------------------------------------------ JSON lines */

typedef struct {
	char *b;
	size_t len, cap;
	int n;
} Json;

static void jput(Json *j, const char *s, size_t n) {
	if (j->len + n + 1 > j->cap) {
		j->cap = (j->len + n + 1) * 2;
		j->b = realloc(j->b, j->cap);
	}
	memcpy(j->b + j->len, s, n);
	j->len += n;
	j->b[j->len] = 0;
}
static void jputs(Json *j, const char *s) { jput(j, s, strlen(s)); }

static void jstr_raw(Json *j, const char *s) {
	if (!s) {
		jputs(j, "null");
		return;
	}
	jputs(j, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': jputs(j, "\\\""); break;
		case '\\': jputs(j, "\\\\"); break;
		case '\n': jputs(j, "\\n"); break;
		case '\r': jputs(j, "\\r"); break;
		case '\t': jputs(j, "\\t"); break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof esc, "\\u%04x", *p);
				jputs(j, esc);
			} else {
				jput(j, (const char *)p, 1);
			}
		}
	}
	jputs(j, "\"");
}
static void jkey(Json *j, const char *k) {
	if (j->n++) jputs(j, ",");
	jstr_raw(j, k);
	jputs(j, ":");
}
static Json jbegin(const char *event) {
	Json j = {0};
	jputs(&j, "{");
	jkey(&j, "event");
	jstr_raw(&j, event);
	return j;
}
static void jstr(Json *j, const char *k, const char *v) { jkey(j, k); jstr_raw(j, v); }
static void jint(Json *j, const char *k, long long v) {
	char b[32];
	snprintf(b, sizeof b, "%lld", v);
	jkey(j, k);
	jputs(j, b);
}
static void jbool(Json *j, const char *k, int v) { jkey(j, k); jputs(j, v ? "true" : "false"); }
static void jend(Json *j) {
	jputs(j, "}\n");
	fwrite(j->b, 1, j->len, out);
	fflush(out);
	free(j->b);
}

static void emit_error(const char *fmt, ...) {
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	Json j = jbegin("error");
	jstr(&j, "message", msg);
	jend(&j);
}

/* The reply to the command with id `id`: ok, or an error message; `extra` adds fields. */
static void reply(const char *id, const char *error, void (*extra)(Json *, void *), void *ud) {
	Json j = jbegin("reply");
	jstr(&j, "id", id);
	jbool(&j, "ok", error == NULL);
	if (error) jstr(&j, "error", error);
	if (extra) extra(&j, ud);
	jend(&j);
}

/* ------------------------------------------------------------------ helpers */

static int b64val(int c) {
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+' || c == '-') return 62;
	if (c == '/' || c == '_') return 63;
	return -1;
}
/* Decodes base64 (standard or url alphabet, padding optional); returns a malloc'd NUL-terminated string. */
static char *b64decode(const char *s) {
	size_t n = strlen(s);
	char *o = malloc(n + 1);
	size_t k = 0;
	int acc = 0, bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0) continue;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	o[k] = 0;
	return o;
}

static const char *state_name(LinphoneChatMessageState s) {
	switch (s) {
	case LinphoneChatMessageStateIdle: return "Idle";
	case LinphoneChatMessageStateInProgress: return "InProgress";
	case LinphoneChatMessageStateDelivered: return "Delivered";
	case LinphoneChatMessageStateNotDelivered: return "NotDelivered";
	case LinphoneChatMessageStateFileTransferError: return "FileTransferError";
	case LinphoneChatMessageStateFileTransferDone: return "FileTransferDone";
	case LinphoneChatMessageStateDeliveredToUser: return "DeliveredToUser";
	case LinphoneChatMessageStateDisplayed: return "Displayed";
	case LinphoneChatMessageStateFileTransferInProgress: return "FileTransferInProgress";
	}
	return "Unknown";
}

static const char *reg_name(LinphoneRegistrationState s) {
	switch (s) {
	case LinphoneRegistrationNone: return "None";
	case LinphoneRegistrationProgress: return "Progress";
	case LinphoneRegistrationOk: return "Ok";
	case LinphoneRegistrationCleared: return "Cleared";
	case LinphoneRegistrationFailed: return "Failed";
	}
	return "Unknown";
}

static char *addr_str(const LinphoneAddress *a) { return a ? linphone_address_as_string(a) : NULL; }

static void jaddr(Json *j, const char *k, const LinphoneAddress *a) {
	char *s = addr_str(a);
	jstr(j, k, s);
	if (s) bctbx_free(s);
}

/* The value of attribute `attr` of the first element `<tag ...>` in `xml` (the FT-over-HTTP body). */
static char *xml_attr(const char *xml, const char *tag, const char *attr) {
	if (!xml) return NULL;
	char open[64];
	snprintf(open, sizeof open, "<%s", tag);
	const char *p = strstr(xml, open);
	if (!p) return NULL;
	const char *end = strchr(p, '>');
	char pat[64];
	snprintf(pat, sizeof pat, "%s=\"", attr);
	const char *a = strstr(p, pat);
	if (!a || (end && a > end)) return NULL;
	a += strlen(pat);
	const char *q = strchr(a, '"');
	if (!q) return NULL;
	char *r = malloc((size_t)(q - a) + 1);
	memcpy(r, a, (size_t)(q - a));
	r[q - a] = 0;
	/* &amp; in an attribute value */
	for (char *x = strstr(r, "&amp;"); x; x = strstr(x + 1, "&amp;")) memmove(x + 1, x + 5, strlen(x + 5) + 1);
	return r;
}

/* ------------------------------------------------------------------ sent messages */

typedef struct {
	LinphoneChatMessage *msg;
	int ref;
	LinphoneChatMessageState last;
} Sent;
static Sent *sent;
static size_t nsent, capsent;
static int next_ref = 1;

static void emit_state(Sent *s, LinphoneChatMessageState st) {
	if (st == s->last) return;
	s->last = st;
	Json j = jbegin("message-state");
	jint(&j, "ref", s->ref);
	jstr(&j, "messageId", linphone_chat_message_get_message_id(s->msg));
	jstr(&j, "state", state_name(st));
	if (st == LinphoneChatMessageStateNotDelivered || st == LinphoneChatMessageStateFileTransferError) {
		const LinphoneErrorInfo *ei = linphone_chat_message_get_error_info(s->msg);
		if (ei) {
			jint(&j, "code", linphone_error_info_get_protocol_code(ei));
			jstr(&j, "reason", linphone_error_info_get_phrase(ei));
		}
	}
	jend(&j);
}

static void on_sent_state(LinphoneChatMessage *msg, LinphoneChatMessageState st) {
	for (size_t i = 0; i < nsent; i++)
		if (sent[i].msg == msg) emit_state(&sent[i], st);
}

/* Catches state changes made on another object for the same message (IMDN handling). */
static void poll_sent_states(void) {
	for (size_t i = 0; i < nsent; i++) emit_state(&sent[i], linphone_chat_message_get_state(sent[i].msg));
}

static Sent *track(LinphoneChatMessage *msg) {
	if (nsent == capsent) {
		capsent = capsent ? capsent * 2 : 16;
		sent = realloc(sent, capsent * sizeof *sent);
	}
	Sent *s = &sent[nsent++];
	s->msg = linphone_chat_message_ref(msg);
	s->ref = next_ref++;
	s->last = LinphoneChatMessageStateIdle;
	LinphoneChatMessageCbs *cbs = linphone_factory_create_chat_message_cbs(linphone_factory_get());
	linphone_chat_message_cbs_set_msg_state_changed(cbs, on_sent_state);
	linphone_chat_message_add_callbacks(msg, cbs);
	linphone_chat_message_cbs_unref(cbs);
	return s;
}

/* ------------------------------------------------------------------ received messages */

typedef struct {
	LinphoneChatMessage *msg;
	LinphoneContent *ft;     /* the FT-over-HTTP content being downloaded */
	char *url, *name, *ctype;
	long long size;
	char path[4400];
	int done;
} Download;
static Download *downloads;
static size_t ndown, capdown;

static void emit_received(LinphoneChatMessage *msg, Download *d, const char *download_error) {
	Json j = jbegin("message-received");
	jstr(&j, "messageId", linphone_chat_message_get_message_id(msg));
	jaddr(&j, "from", linphone_chat_message_get_from_address(msg));
	jaddr(&j, "to", linphone_chat_message_get_to_address(msg));
	jaddr(&j, "localAddress", linphone_chat_message_get_local_address(msg));
	jaddr(&j, "peerAddress", linphone_chat_message_get_peer_address(msg));
	jstr(&j, "contentType", linphone_chat_message_get_content_type(msg));
	jstr(&j, "text", linphone_chat_message_get_utf8_text(msg));
	jstr(&j, "callId", linphone_chat_message_get_call_id(msg));
	jint(&j, "time", (long long)linphone_chat_message_get_time(msg));
	jkey(&j, "contents");
	jputs(&j, "[");
	int first = 1;
	for (const bctbx_list_t *it = linphone_chat_message_get_contents(msg); it; it = bctbx_list_next(it)) {
		LinphoneContent *c = (LinphoneContent *)bctbx_list_get_data(it);
		if (!first) jputs(&j, ",");
		first = 0;
		Json cj = {0};
		jputs(&cj, "{");
		char ct[512];
		snprintf(ct, sizeof ct, "%s/%s", linphone_content_get_type(c) ? linphone_content_get_type(c) : "",
		         linphone_content_get_subtype(c) ? linphone_content_get_subtype(c) : "");
		jstr(&cj, "contentType", ct);
		jstr(&cj, "name", linphone_content_get_name(c));
		jint(&cj, "size", (long long)linphone_content_get_file_size(c));
		jbool(&cj, "isFileTransfer", linphone_content_is_file_transfer(c));
		jbool(&cj, "isFile", linphone_content_is_file(c));
		if (linphone_content_is_file(c)) jstr(&cj, "path", linphone_content_get_file_path(c));
		else if (linphone_content_is_text(c) || linphone_content_is_file_transfer(c)) jstr(&cj, "text", linphone_content_get_utf8_text(c));
		jputs(&cj, "}");
		jputs(&j, cj.b);
		free(cj.b);
	}
	jputs(&j, "]");
	if (d) {
		jkey(&j, "file");
		Json fj = {0};
		jputs(&fj, "{");
		jstr(&fj, "url", d->url);
		jstr(&fj, "name", d->name);
		jint(&fj, "size", d->size);
		jstr(&fj, "contentType", d->ctype);
		if (!download_error) jstr(&fj, "path", d->path);
		if (download_error) jstr(&fj, "error", download_error);
		jputs(&fj, "}");
		jputs(&j, fj.b);
		free(fj.b);
	}
	jend(&j);
}

static void on_download_state(LinphoneChatMessage *msg, LinphoneChatMessageState st) {
	for (size_t i = 0; i < ndown; i++) {
		Download *d = &downloads[i];
		if (d->msg != msg || d->done) continue;
		if (st == LinphoneChatMessageStateFileTransferDone) {
			d->done = 1;
			emit_received(msg, d, NULL);
		} else if (st == LinphoneChatMessageStateFileTransferError) {
			d->done = 1;
			emit_received(msg, d, "FileTransferError");
		}
	}
}

static void on_message_received(LinphoneCore *core, LinphoneChatRoom *room, LinphoneChatMessage *msg) {
	(void)core;
	(void)room;
	LinphoneContent *ft = NULL;
	for (const bctbx_list_t *it = linphone_chat_message_get_contents(msg); it; it = bctbx_list_next(it)) {
		LinphoneContent *c = (LinphoneContent *)bctbx_list_get_data(it);
		if (linphone_content_is_file_transfer(c)) {
			ft = c;
			break;
		}
	}
	if (!ft) {
		emit_received(msg, NULL, NULL);
		return;
	}
	if (ndown == capdown) {
		capdown = capdown ? capdown * 2 : 8;
		downloads = realloc(downloads, capdown * sizeof *downloads);
	}
	Download *d = &downloads[ndown++];
	memset(d, 0, sizeof *d);
	d->msg = linphone_chat_message_ref(msg);
	d->ft = ft;
	const char *xml = linphone_content_get_utf8_text(ft);
	d->url = xml_attr(xml, "data", "url");
	d->name = linphone_content_get_name(ft) ? strdup(linphone_content_get_name(ft)) : NULL;
	d->size = (long long)linphone_content_get_file_size(ft);
	{
		/* <content-type> of the file-info (the file's type, not the body's) */
		const char *p = xml ? strstr(xml, "<content-type>") : NULL;
		const char *q = p ? strstr(p, "</content-type>") : NULL;
		if (p && q) {
			p += strlen("<content-type>");
			d->ctype = strndup(p, (size_t)(q - p));
		}
	}
	if (!auto_download) {
		d->done = 1;
		emit_received(msg, d, "not downloaded (autodownload off)");
		return;
	}
	static int seq = 0;
	snprintf(d->path, sizeof d->path, "%s/%d-%s", download_dir, ++seq, d->name && !strchr(d->name, '/') ? d->name : "file");
	linphone_content_set_file_path(ft, d->path);
	LinphoneChatMessageCbs *cbs = linphone_factory_create_chat_message_cbs(linphone_factory_get());
	linphone_chat_message_cbs_set_msg_state_changed(cbs, on_download_state);
	linphone_chat_message_add_callbacks(msg, cbs);
	linphone_chat_message_cbs_unref(cbs);
	if (!linphone_chat_message_download_content(msg, ft)) {
		d->done = 1;
		emit_received(msg, d, "download could not start");
	}
}

/* ------------------------------------------------------------------ registration */

static void on_registration(LinphoneCore *core, LinphoneAccount *acc, LinphoneRegistrationState st, const char *message) {
	(void)core;
	Json j = jbegin("registration");
	jstr(&j, "state", reg_name(st));
	jstr(&j, "message", message);
	jaddr(&j, "identity", linphone_account_params_get_identity_address(linphone_account_get_params(acc)));
	const LinphoneAddress *contact = linphone_account_get_contact_address(acc);
	jaddr(&j, "contact", contact);
	jend(&j);
	if (st == LinphoneRegistrationOk) {
		Json r = jbegin("registered");
		jaddr(&r, "identity", linphone_account_params_get_identity_address(linphone_account_get_params(acc)));
		jend(&r);
	}
}

/* ------------------------------------------------------------------ logging */

static void on_log(LinphoneLoggingService *svc, const char *domain, LinphoneLogLevel level, const char *message) {
	(void)svc;
	const char *name = level == LinphoneLogLevelDebug ? "debug" : level == LinphoneLogLevelTrace ? "trace" : level == LinphoneLogLevelMessage ? "message" : level == LinphoneLogLevelWarning ? "warning" : level == LinphoneLogLevelError ? "error" : "fatal";
	if (logfile) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(logfile, "%lld.%03ld %s %s: %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000, domain ? domain : "", name, message);
		fflush(logfile);
	}
	/* No sound card on the test machines: expected, not worth an event. */
	if (level >= LinphoneLogLevelError && !strstr(message, "suitable soundcard")) {
		Json j = jbegin("log");
		jstr(&j, "level", name);
		jstr(&j, "message", message);
		jend(&j);
	}
}

/* ------------------------------------------------------------------ commands */

/* A full URI as given (its parameters kept); a bare number or name completed by the account. */
static LinphoneAddress *parse_addr(const char *s) {
	if (strchr(s, ':')) return linphone_address_new(s);
	return linphone_core_interpret_url(lc, s);
}

static LinphoneChatRoom *room_for(const char *to, const char **err) {
	if (!account) {
		*err = "not registered (no account): send register first";
		return NULL;
	}
	LinphoneAddress *a = NULL;
	if (!strncasecmp(to, "tel:", 4)) {
		/* liblinphone 5.1 crashes (SIGSEGV) on a basic chat room with a tel: peer; map the number
		 * to a SIP URI in the account's domain instead (RFC 3261 §19.1.6). */
		const LinphoneAddress *me = linphone_account_params_get_identity_address(linphone_account_get_params(account));
		char sip[1024];
		const char *num = to + 4;
		size_t n = strcspn(num, ";");
		snprintf(sip, sizeof sip, "sip:%.*s@%s;user=phone", (int)n, num, me ? linphone_address_get_domain(me) : "invalid");
		a = linphone_address_new(sip);
	} else {
		a = parse_addr(to);
	}
	if (!a) {
		*err = "cannot parse the peer address";
		return NULL;
	}
	if (!linphone_address_is_sip(a)) {
		linphone_address_unref(a);
		*err = "the peer address is not a sip: URI";
		return NULL;
	}
	LinphoneChatRoom *room = linphone_core_get_chat_room(lc, a);
	linphone_address_unref(a);
	if (!room) *err = "no chat room for that peer";
	return room;
}

static void extra_sent(Json *j, void *ud) {
	Sent *s = ud;
	jint(j, "ref", s->ref);
	jstr(j, "messageId", linphone_chat_message_get_message_id(s->msg));
	jstr(j, "state", state_name(linphone_chat_message_get_state(s->msg)));
}

static void send_text(const char *id, const char *to, const char *text) {
	const char *err = NULL;
	LinphoneChatRoom *room = room_for(to, &err);
	if (!room) return reply(id, err, NULL, NULL);
	LinphoneChatMessage *msg = linphone_chat_room_create_message_from_utf8(room, text);
	Sent *s = track(msg);
	int ref = s->ref;
	linphone_chat_message_send(msg);
	linphone_chat_message_unref(msg);
	/* the array may have moved; find the entry again */
	for (size_t i = 0; i < nsent; i++)
		if (sent[i].ref == ref) return reply(id, NULL, extra_sent, &sent[i]);
}

static void send_file(const char *id, const char *to, const char *path, const char *url, const char *ctype) {
	const char *err = NULL;
	struct stat st;
	if (stat(path, &st) != 0) return reply(id, "file not found", NULL, NULL);
	LinphoneChatRoom *room = room_for(to, &err);
	if (!room) return reply(id, err, NULL, NULL);
	linphone_core_set_file_transfer_server(lc, url);
	LinphoneContent *c = linphone_core_create_content(lc);
	char type[128] = "application", subtype[128] = "octet-stream";
	if (ctype && strchr(ctype, '/')) {
		snprintf(type, sizeof type, "%.*s", (int)(strchr(ctype, '/') - ctype), ctype);
		snprintf(subtype, sizeof subtype, "%s", strchr(ctype, '/') + 1);
	}
	linphone_content_set_type(c, type);
	linphone_content_set_subtype(c, subtype);
	const char *base = strrchr(path, '/');
	linphone_content_set_name(c, base ? base + 1 : path);
	linphone_content_set_file_path(c, path);
	linphone_content_set_size(c, (size_t)st.st_size);
	LinphoneChatMessage *msg = linphone_chat_room_create_file_transfer_message(room, c);
	linphone_content_unref(c);
	Sent *s = track(msg);
	int ref = s->ref;
	linphone_chat_message_send(msg);
	linphone_chat_message_unref(msg);
	for (size_t i = 0; i < nsent; i++)
		if (sent[i].ref == ref) return reply(id, NULL, extra_sent, &sent[i]);
}

static void do_register(const char *id, const char *identity, const char *proxy, const char *transport, int expires, int cpim) {
	LinphoneAddress *ident = linphone_address_new(identity);
	if (!ident) return reply(id, "cannot parse the identity", NULL, NULL);
	char server[1024];
	snprintf(server, sizeof server, "sip:%s;transport=%s", proxy, transport);
	LinphoneAddress *srv = linphone_address_new(server);
	if (!srv) {
		linphone_address_unref(ident);
		return reply(id, "cannot parse the proxy", NULL, NULL);
	}
	LinphoneAccountParams *p = linphone_core_create_account_params(lc);
	linphone_account_params_set_identity_address(p, ident);
	linphone_account_params_set_server_address(p, srv);
	linphone_account_params_set_outbound_proxy_enabled(p, TRUE); /* route every request via the proxy */
	linphone_account_params_set_register_enabled(p, TRUE);
	linphone_account_params_set_expires(p, expires);
	linphone_account_params_enable_cpim_in_basic_chat_room(p, cpim ? TRUE : FALSE);
	linphone_account_params_set_publish_enabled(p, FALSE);
	linphone_address_unref(ident);
	linphone_address_unref(srv);
	if (account) {
		linphone_account_set_params(account, p);
	} else {
		account = linphone_core_create_account(lc, p);
		if (linphone_core_add_account(lc, account) != 0) {
			linphone_account_params_unref(p);
			linphone_account_unref(account);
			account = NULL;
			return reply(id, "linphone_core_add_account failed", NULL, NULL);
		}
		linphone_core_set_default_account(lc, account);
	}
	linphone_account_params_unref(p);
	reply(id, NULL, NULL, NULL);
}

static void do_unregister(const char *id) {
	if (!account) return reply(id, "no account", NULL, NULL);
	LinphoneAccountParams *p = linphone_account_params_clone(linphone_account_get_params(account));
	linphone_account_params_set_register_enabled(p, FALSE);
	linphone_account_set_params(account, p);
	linphone_account_params_unref(p);
	reply(id, NULL, NULL, NULL);
}

static void extra_count(Json *j, void *ud) { jint(j, "unreadRooms", *(int *)ud); }

static void do_markread(const char *id, const char *peer) {
	LinphoneAddress *a = strcmp(peer, "*") == 0 ? NULL : parse_addr(peer);
	if (strcmp(peer, "*") != 0 && !a) return reply(id, "cannot parse the peer address", NULL, NULL);
	int n = 0;
	for (const bctbx_list_t *it = linphone_core_get_chat_rooms(lc); it; it = bctbx_list_next(it)) {
		LinphoneChatRoom *room = (LinphoneChatRoom *)bctbx_list_get_data(it);
		if (a && !linphone_address_weak_equal(a, linphone_chat_room_get_peer_address(room))) continue;
		if (linphone_chat_room_get_unread_messages_count(room) > 0) n++;
		linphone_chat_room_mark_as_read(room);
	}
	if (a) linphone_address_unref(a);
	reply(id, NULL, extra_count, &n);
}

/* Splits off the next space-separated token of *s (NULL at the end). */
static char *token(char **s) {
	while (**s == ' ') (*s)++;
	if (!**s) return NULL;
	char *t = *s;
	char *sp = strchr(t, ' ');
	if (sp) {
		*sp = 0;
		*s = sp + 1;
	} else {
		*s = t + strlen(t);
	}
	return t;
}

static void handle_line(char *line) {
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n')) line[--n] = 0;
	char *s = line;
	char *id = token(&s);
	if (!id) return;
	char *cmd = token(&s);
	if (!cmd) return reply(id, "missing command", NULL, NULL);
	if (!strcmp(cmd, "register")) {
		char *ident = token(&s), *proxy = token(&s), *tr = token(&s), *exp = token(&s), *opt = token(&s);
		if (!ident || !proxy) return reply(id, "usage: register <identity-uri> <proxy-host:port> <udp|tcp> [expires] [nocpim]", NULL, NULL);
		do_register(id, ident, proxy, tr ? tr : "udp", exp ? atoi(exp) : 600, !(opt && !strcmp(opt, "nocpim")));
	} else if (!strcmp(cmd, "unregister")) {
		do_unregister(id);
	} else if (!strcmp(cmd, "send")) {
		char *to = token(&s);
		if (!to) return reply(id, "usage: send <to-uri> <text>", NULL, NULL);
		send_text(id, to, s);
	} else if (!strcmp(cmd, "send64")) {
		char *to = token(&s), *b = token(&s);
		if (!to) return reply(id, "usage: send64 <to-uri> <base64>", NULL, NULL);
		char *text = b64decode(b ? b : "");
		send_text(id, to, text);
		free(text);
	} else if (!strcmp(cmd, "sendfile")) {
		char *to = token(&s), *path = token(&s), *url = token(&s), *ct = token(&s);
		if (!to || !path || !url) return reply(id, "usage: sendfile <to-uri> <path> <ft-server-url> [content-type]", NULL, NULL);
		send_file(id, to, path, url, ct);
	} else if (!strcmp(cmd, "markread")) {
		char *peer = token(&s);
		do_markread(id, peer ? peer : "*");
	} else if (!strcmp(cmd, "accept")) {
		char *ct = token(&s);
		if (!ct) return reply(id, "usage: accept <content-type>", NULL, NULL);
		linphone_core_add_content_type_support(lc, ct);
		reply(id, NULL, NULL, NULL);
	} else if (!strcmp(cmd, "autodownload")) {
		char *v = token(&s);
		auto_download = v && !strcmp(v, "on");
		reply(id, NULL, NULL, NULL);
	} else if (!strcmp(cmd, "quit")) {
		reply(id, NULL, NULL, NULL);
		running = 0;
	} else {
		reply(id, "unknown command", NULL, NULL);
	}
}

/* ------------------------------------------------------------------ main */

static void on_signal(int sig) {
	(void)sig;
	running = 0;
}

int main(int argc, char **argv) {
	const char *host = "127.0.0.1";
	int udp_port = -1, tcp_port = -1;
	LinphoneLogLevel level = LinphoneLogLevelWarning;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--dir") && v) snprintf(dir, sizeof dir, "%s", argv[++i]);
		else if (!strcmp(a, "--host") && v) host = argv[++i];
		else if (!strcmp(a, "--udp-port") && v) udp_port = atoi(argv[++i]);
		else if (!strcmp(a, "--tcp-port") && v) tcp_port = atoi(argv[++i]);
		else if (!strcmp(a, "--log-level") && v) {
			const char *l = argv[++i];
			level = !strcmp(l, "debug") ? LinphoneLogLevelDebug : !strcmp(l, "message") ? LinphoneLogLevelMessage : !strcmp(l, "error") ? LinphoneLogLevelError : LinphoneLogLevelWarning;
		} else {
			fprintf(stderr, "linphone-driver: unknown argument %s\n", a);
			return 2;
		}
	}
	if (!dir[0]) {
		fprintf(stderr, "linphone-driver: --dir is required\n");
		return 2;
	}

	bind_host_set = inet_pton(AF_INET, host, &bind_host) == 1;

	/* The JSON channel is the original stdout; anything the libraries print goes to stderr. */
	int json_fd = dup(1);
	dup2(2, 1);
	out = fdopen(json_fd, "w");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	snprintf(download_dir, sizeof download_dir, "%s/downloads", dir);
	mkdir(download_dir, 0700);
	char path[4400];
	snprintf(path, sizeof path, "%s/linphone.log", dir);
	logfile = fopen(path, "a");

	LinphoneLoggingService *log = linphone_logging_service_get();
	LinphoneLoggingServiceCbs *lcbs = linphone_factory_create_logging_service_cbs(linphone_factory_get());
	linphone_logging_service_cbs_set_log_message_written(lcbs, on_log);
	linphone_logging_service_add_callbacks(log, lcbs);
	linphone_logging_service_cbs_unref(lcbs);
	linphone_logging_service_set_log_level(log, level);

	LinphoneFactory *factory = linphone_factory_get();
	/* liblinphone appends file names to these directories as they are: they need the final '/'. */
	char slashed[4200];
	snprintf(slashed, sizeof slashed, "%s/", dir);
	linphone_factory_set_config_dir(factory, slashed);
	linphone_factory_set_data_dir(factory, slashed);
	char dl[4400];
	snprintf(dl, sizeof dl, "%s/", download_dir);
	linphone_factory_set_download_dir(factory, dl);

	snprintf(path, sizeof path, "%s/linphonerc", dir);
	LinphoneConfig *cfg = linphone_factory_create_config(factory, path);
	char db[4400];
	/* SIP: only our own address, the given ports; no IPv6, no guessing of the Contact host. */
	linphone_config_set_string(cfg, "sip", "bind_address", host);
	linphone_config_set_int(cfg, "sip", "sip_port", udp_port);
	linphone_config_set_int(cfg, "sip", "sip_tcp_port", tcp_port);
	linphone_config_set_int(cfg, "sip", "sip_tls_port", 0);
	linphone_config_set_int(cfg, "sip", "use_ipv6", 0);
	linphone_config_set_int(cfg, "sip", "register_only_when_network_is_up", 0);
	linphone_config_set_int(cfg, "sip", "auto_net_state_mon", 0);
	linphone_config_set_int(cfg, "sip", "ping_with_options", 0);
	/* Received IMDNs (RFC 5438) also reach message_received: our imdn-received events. */
	linphone_config_set_int(cfg, "sip", "deliver_imdn", 1);
	/* One IMDN per message, never several in one multipart body. */
	linphone_config_set_int(cfg, "misc", "aggregate_imdn", 0);
	linphone_config_set_int(cfg, "misc", "auto_download_incoming_files_max_size", -1);
	linphone_config_set_int(cfg, "misc", "enable_basic_to_client_group_chat_room_migration", 0);
	linphone_config_set_int(cfg, "net", "mtu", 0);
	linphone_config_set_string(cfg, "net", "firewall_policy", "0");
	/* Storage in the instance's directory. */
	snprintf(db, sizeof db, "%s/chat.db", dir);
	linphone_config_set_string(cfg, "storage", "backend", "sqlite3");
	linphone_config_set_string(cfg, "storage", "uri", db);
	snprintf(db, sizeof db, "%s/call-history.db", dir);
	linphone_config_set_string(cfg, "storage", "call_logs_db_uri", db);
	/* No sound card, no camera: nothing of the media stack is used. */
	linphone_config_set_int(cfg, "sound", "echocancellation", 0);
	linphone_config_set_string(cfg, "sound", "playback_dev_id", "");
	linphone_config_set_string(cfg, "sound", "capture_dev_id", "");
	linphone_config_set_int(cfg, "video", "capture", 0);
	linphone_config_set_int(cfg, "video", "display", 0);
	linphone_config_set_int(cfg, "video", "automatically_initiate", 0);
	linphone_config_set_int(cfg, "video", "automatically_accept", 0);
	linphone_config_set_int(cfg, "lime", "enabled", 0);
	linphone_config_sync(cfg);

	LinphoneCoreCbs *cbs = linphone_factory_create_core_cbs(factory);
	linphone_core_cbs_set_message_received(cbs, on_message_received);
	linphone_core_cbs_set_account_registration_state_changed(cbs, on_registration);

	lc = linphone_factory_create_core_with_config_3(factory, cfg, NULL);
	if (!lc) {
		emit_error("could not create the core");
		return 1;
	}
	linphone_core_add_callbacks(lc, cbs);
	linphone_core_cbs_unref(cbs);
	linphone_core_set_use_files(lc, TRUE);
	linphone_core_enable_video_capture(lc, FALSE);
	linphone_core_enable_video_display(lc, FALSE);
	/* IMDN: request and send delivery and display notifications (RFC 5438 §5.1, §5.2). */
	LinphoneImNotifPolicy *pol = linphone_core_get_im_notif_policy(lc);
	linphone_im_notif_policy_enable_all(pol);
	if (linphone_core_start(lc) != 0) {
		emit_error("linphone_core_start failed");
		return 1;
	}
	linphone_core_set_network_reachable(lc, TRUE);
	linphone_core_set_max_size_for_auto_download_incoming_files(lc, -1);

	LinphoneTransports *used = linphone_core_get_transports_used(lc);
	Json j = jbegin("ready");
	jstr(&j, "host", host);
	jint(&j, "udpPort", linphone_transports_get_udp_port(used));
	jint(&j, "tcpPort", linphone_transports_get_tcp_port(used));
	jstr(&j, "version", linphone_core_get_version());
	jend(&j);
	linphone_transports_unref(used);

	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	char buf[65536];
	size_t blen = 0;
	while (running) {
		struct pollfd pfd = {.fd = 0, .events = POLLIN};
		int r = poll(&pfd, 1, 20);
		if (r > 0) {
			ssize_t k = read(0, buf + blen, sizeof buf - 1 - blen);
			if (k == 0) running = 0; /* stdin closed: the test process is gone */
			else if (k > 0) {
				blen += (size_t)k;
				buf[blen] = 0;
				char *nl;
				while ((nl = memchr(buf, '\n', blen))) {
					*nl = 0;
					handle_line(buf);
					size_t used_n = (size_t)(nl - buf) + 1;
					memmove(buf, nl + 1, blen - used_n);
					blen -= used_n;
					buf[blen] = 0;
				}
				if (blen == sizeof buf - 1) {
					emit_error("command line longer than %zu bytes, dropped", sizeof buf - 1);
					blen = 0;
				}
			} else if (errno != EAGAIN && errno != EINTR) running = 0;
		}
		linphone_core_iterate(lc);
		poll_sent_states();
	}

	for (size_t i = 0; i < nsent; i++) linphone_chat_message_unref(sent[i].msg);
	for (size_t i = 0; i < ndown; i++) linphone_chat_message_unref(downloads[i].msg);
	nsent = ndown = 0;
	linphone_core_stop(lc);
	linphone_core_unref(lc);
	Json q = jbegin("stopped");
	jend(&q);
	return 0;
}
