// System calls that Node's fs lacks, for src/fs/native.ts: extended attributes and mknod, on byte paths or descriptors.
//
// Why not an npm binding: @napi-rs/xattr and fs-xattr take paths as JavaScript strings, so a name
// that is not valid UTF-8 cannot be reached (Cassette stores names as bytes), fs-xattr follows
// symlinks, and neither reports errno. Every function here takes a path as a Buffer (its exact
// bytes, no NUL) or a string (a path that is valid UTF-8), or a file descriptor as a number, never
// follows a final symlink, and throws an Error whose `errno` property is the errno value (the
// wrapper turns it into `code`).

#define NAPI_VERSION 3
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

// A path argument: a NUL-terminated copy of a Buffer's bytes (path != NULL), or a descriptor (fd >= 0).
typedef struct {
  char *path;
  int fd;
} target_t;

static napi_value throw_errno(napi_env env, int err, const char *call) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", call, strerror(err));
  napi_value msg, error, number;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &number);
  napi_set_named_property(env, error, "errno", number);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

// Reads argument `value` as a target; returns 0 on success (the caller frees target->path).
static int get_target(napi_env env, napi_value value, target_t *target) {
  target->path = NULL;
  target->fd = -1;
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_number) {
    int32_t fd;
    napi_get_value_int32(env, value, &fd);
    if (fd < 0) return -1;
    target->fd = fd;
    return 0;
  }
  if (type == napi_string) {
    // A path that is valid UTF-8 comes as a string: one copy here instead of a Buffer in JavaScript.
    size_t length;
    if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length == 0) return -1;
    target->path = malloc(length + 1);
    if (target->path == NULL) return -1;
    napi_get_value_string_utf8(env, value, target->path, length + 1, &length);
    if (strlen(target->path) != length) {
      free(target->path);
      target->path = NULL;
      return -1;
    }
    return 0;
  }
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (!is_buffer) return -1;
  void *data;
  size_t length;
  napi_get_buffer_info(env, value, &data, &length);
  if (length == 0 || memchr(data, 0, length) != NULL) return -1;
  target->path = malloc(length + 1);
  if (target->path == NULL) return -1;
  memcpy(target->path, data, length);
  target->path[length] = 0;
  return 0;
}

// Reads a string argument into a malloc'd NUL-terminated UTF-8 copy, or NULL.
static char *get_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *out = malloc(length + 1);
  if (out == NULL) return NULL;
  napi_get_value_string_utf8(env, value, out, length + 1, &length);
  return out;
}

// listxattr (name NULL) or getxattr (name given) on a path or a descriptor.
static ssize_t do_read(const target_t *t, const char *name, char *buffer, size_t size) {
  if (name == NULL) return t->path ? llistxattr(t->path, buffer, size) : flistxattr(t->fd, buffer, size);
  return t->path ? lgetxattr(t->path, name, buffer, size) : fgetxattr(t->fd, name, buffer, size);
}

// The attribute list (name NULL) or one value as a new Buffer, or NULL with errno set. Most
// entries have no attribute or short ones: one call into a buffer on the stack. A longer one
// asks for the size, and since it can grow between that and the read, asks again on ERANGE.
static napi_value read_buffer(napi_env env, const target_t *t, const char *name) {
  char first[1024];
  char *data = first;
  ssize_t length = do_read(t, name, first, sizeof first);
  while (length < 0 && errno == ERANGE) {
    if (data != first) free(data);
    data = first;
    length = do_read(t, name, NULL, 0);
    // An empty answer is the answer: a read with size 0 would only ask the size again.
    if (length <= 0) break;
    data = malloc((size_t)length);
    if (data == NULL) {
      data = first;
      length = -1;
      errno = ENOMEM;
      break;
    }
    length = do_read(t, name, data, (size_t)length);
  }
  napi_value result = NULL;
  if (length >= 0) {
    void *out;
    napi_create_buffer(env, (size_t)length, &out, &result);
    if (length > 0) memcpy(out, data, (size_t)length);
  }
  int err = errno;
  if (data != first) free(data);
  errno = err;
  return result;
}

// list(target): Buffer of NUL-terminated attribute names (empty when there are none).
static napi_value list_xattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  target_t t;
  if (argc < 1 || get_target(env, argv[0], &t) != 0) return throw_type(env, "list(target): target must be a non-empty path (string or Buffer) without NUL, or a descriptor");
  napi_value result = read_buffer(env, &t, NULL);
  int err = errno;
  free(t.path);
  return result != NULL ? result : throw_errno(env, err, "listxattr");
}

// get(target, name): the attribute's value as a Buffer.
static napi_value get_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  target_t t;
  if (argc < 2 || get_target(env, argv[0], &t) != 0) return throw_type(env, "get(target, name): target must be a non-empty path (string or Buffer) without NUL, or a descriptor");
  char *name = get_string(env, argv[1]);
  if (name == NULL) {
    free(t.path);
    return throw_type(env, "get(target, name): name must be a string");
  }
  napi_value result = read_buffer(env, &t, name);
  int err = errno;
  free(t.path);
  free(name);
  return result != NULL ? result : throw_errno(env, err, "getxattr");
}

// set(target, name, value): creates or replaces the attribute.
static napi_value set_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  target_t t;
  if (argc < 3 || get_target(env, argv[0], &t) != 0) return throw_type(env, "set(target, name, value): target must be a non-empty path (string or Buffer) without NUL, or a descriptor");
  bool is_buffer = false;
  napi_is_buffer(env, argv[2], &is_buffer);
  char *name = is_buffer ? get_string(env, argv[1]) : NULL;
  if (name == NULL) {
    free(t.path);
    return throw_type(env, "set(target, name, value): name must be a string and value a Buffer");
  }
  void *value;
  size_t length;
  napi_get_buffer_info(env, argv[2], &value, &length);
  int rc = t.path ? lsetxattr(t.path, name, value, length, 0) : fsetxattr(t.fd, name, value, length, 0);
  int err = errno;
  free(t.path);
  free(name);
  if (rc != 0) return throw_errno(env, err, "setxattr");
  return NULL;
}

// mknod(path, mode, major, minor): a fifo, character or block device (mode includes the file type bits).
static napi_value make_node(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  target_t t;
  if (argc < 4 || get_target(env, argv[0], &t) != 0 || t.path == NULL) return throw_type(env, "mknod(path, mode, major, minor): path must be a non-empty Buffer without NUL");
  uint32_t mode, major_number, minor_number;
  if (napi_get_value_uint32(env, argv[1], &mode) != napi_ok || napi_get_value_uint32(env, argv[2], &major_number) != napi_ok
      || napi_get_value_uint32(env, argv[3], &minor_number) != napi_ok) {
    free(t.path);
    return throw_type(env, "mknod(path, mode, major, minor): mode, major and minor must be numbers");
  }
  int rc = mknod(t.path, (mode_t)mode, makedev(major_number, minor_number));
  int err = errno;
  free(t.path);
  if (rc != 0) return throw_errno(env, err, "mknod");
  return NULL;
}


// Content-defined chunking (FastCDC-style, a gear rolling hash): the gear table is made once from a
// fixed seed (splitmix64), so the same bytes are cut at the same places by every Cassette.
static uint64_t gear[256];

static void init_gear(void) {
  uint64_t x = 0x6361737365747465ULL; // "cassette"
  for (int i = 0; i < 256; i++) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    gear[i] = z ^ (z >> 31);
  }
}

// cut(buffer, chunkStart, scanFrom, end, min, normal, max, bits) → the offset (in buffer) where the
// chunk that begins at chunkStart ends, or -1 when no cut lies in [scanFrom, end) and the chunk is
// shorter than max. The hash depends only on the last 64 bytes, so a scan may resume anywhere: it
// first replays up to 64 bytes before scanFrom. Below `normal` bytes a cut needs bits+2 zero top
// bits of the hash, from `normal` on bits−2 (FastCDC's normalized chunking); at `max` it always cuts.
static napi_value cdc_cut(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t length;
  if (argc < 8 || napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) return throw_type(env, "cut(buffer, chunkStart, scanFrom, end, min, normal, max, bits): buffer must be a Buffer");
  int64_t v[7];
  for (int i = 0; i < 7; i++) {
    if (napi_get_value_int64(env, argv[i + 1], &v[i]) != napi_ok) return throw_type(env, "cut(buffer, chunkStart, scanFrom, end, min, normal, max, bits): offsets must be numbers");
  }
  int64_t chunk_start = v[0], scan_from = v[1], end = v[2], min = v[3], normal = v[4], max = v[5], bits = v[6];
  if (chunk_start < 0 || scan_from < chunk_start || end < scan_from || (uint64_t)end > length || bits < 3 || bits > 60 || min < 0 || normal < min || max < normal) {
    return throw_type(env, "cut(buffer, chunkStart, scanFrom, end, min, normal, max, bits): arguments out of range");
  }
  const uint8_t *bytes = (const uint8_t *)data;
  const uint64_t mask_small = ~0ULL << (64 - (bits + 2));
  const uint64_t mask_large = ~0ULL << (64 - (bits - 2));
  int64_t from = scan_from;
  if (from < chunk_start + min) from = chunk_start + min;
  int64_t result = -1;
  if (from < end) {
    int64_t replay = from - 64 < chunk_start ? chunk_start : from - 64;
    uint64_t h = 0;
    for (int64_t i = replay; i < from; i++) h = (h << 1) + gear[bytes[i]];
    int64_t limit = end < chunk_start + max ? end : chunk_start + max;
    int64_t small_end = chunk_start + normal < limit ? chunk_start + normal : limit;
    // Two bytes a step (FastCDC 2020's "rolling two bytes"): h advances by both, and a cut is
    // tested after each pair only, at an even distance from the chunk's start. It halves the
    // dependent shift-and-add chain per byte. An odd `from` first takes one byte alone.
    int64_t i = from;
    if (((i - chunk_start) & 1) != 0 && i < limit) {
      // The second byte of a pair whose first one ended the previous scan: test the cut after it,
      // as one scan over both windows would, so the cuts never depend on how the bytes arrived.
      h = (h << 1) + gear[bytes[i]];
      i++;
      if ((h & (i <= chunk_start + normal ? mask_small : mask_large)) == 0) result = i;
    }
    uint64_t mask = mask_small;
    int64_t stop = small_end;
    for (int phase = 0; phase < 2 && result < 0; phase++) {
      for (; i + 1 < stop; i += 2) {
        h = (h << 2) + (gear[bytes[i]] << 1) + gear[bytes[i + 1]];
        if ((h & mask) == 0) { result = i + 2; break; }
      }
      mask = mask_large;
      stop = limit;
    }
  }
  if (result < 0 && end - chunk_start >= max) result = chunk_start + max;
  napi_value out;
  napi_create_int64(env, result, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  init_gear();
  napi_property_descriptor properties[] = {
    {"list", NULL, list_xattrs, NULL, NULL, NULL, napi_default, NULL},
    {"get", NULL, get_xattr, NULL, NULL, NULL, napi_default, NULL},
    {"set", NULL, set_xattr, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, make_node, NULL, NULL, NULL, napi_default, NULL},
    {"cut", NULL, cdc_cut, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
