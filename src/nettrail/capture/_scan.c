/* nettrail.capture._scan: text_fast._LINE.findall, compiled.
 *
 * scan(block) -> list of 14-tuples of bytes, exactly what text_fast._LINE.findall(block)
 * returns: one tuple a line ended by "\n" (a last line without one is left out). A line of
 * the common form gives its 13 fields (stamp seconds, microseconds, -i any column, "IP a.p >
 * b.q", TCP flags, seq, ack, win, TS val, TS ecr, other options, length, UDP text; empty
 * when absent) and an empty 14th; any other line 13 empty fields and the line itself.
 *
 * The matcher below follows the pattern's alternatives in the order the regular-expression
 * engine tries them; where the engine could back up into another way of matching, a comment
 * says why no other way exists. tests/unit/test_text_scanner.py holds the two equal on each
 * form and edge of the pattern and on mangled lines, tests/conformance/test_text_scanner_suite.py
 * on tcpdump's suite (its outputs, and its captures printed by this machine's tcpdump).
 *
 * The other functions do what the reader's Python does next, to the same values: pairs
 * (FastLine.make_pairs' loop), columns (text_block.fill_block's first lookups and numbers),
 * numbers (text_block.numbers_of) and syns (text_block._linux_syns).
 *
 * Equal texts of one call (stamps, columns, address pairs, flags, windows, lengths, options,
 * UDP texts) are one bytes object: fewer objects to make, and a dict lookup of a repeated one
 * finds its hash kept. Sequence numbers, TS values and microseconds, mostly unique, are not
 * looked up.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LIMIT 4300 /* text_fields.DIGITS_LIMIT: the longest name, address or text */
#define FIELDS 14
#define OTHER 13

enum { F_STAMP, F_FRAC, F_COLUMN, F_ADDRS, F_FLAGS, F_SEQ, F_ACK, F_WIN, F_TSV, F_ECR, F_OPTS,
       F_LEN, F_UDP };

typedef struct {
    const char *at[FIELDS];
    Py_ssize_t len[FIELDS];
} Spans;

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_word(unsigned char c) { return c >= '!' && c <= '~'; }     /* [!-~] */
static inline int is_name(unsigned char c) { return is_word(c) && c != '>'; }  /* [!-=?-~] */

static inline int starts(const char *p, const char *end, const char *word, Py_ssize_t n)
{
    return end - p >= n && memcmp(p, word, n) == 0;
}

/* Digits at p, at most `most` (a possessive \d{1,most}+): how many, 0 if none. */
static inline Py_ssize_t digits(const char *p, const char *end, Py_ssize_t most)
{
    Py_ssize_t n = 0;
    while (p + n < end && n < most && is_digit((unsigned char)p[n]))
        n++;
    return n;
}

/* A number field "<word>(\d{1,10}+)": its digits from p (after the word); where it ends, or
 * NULL. An 11th digit fails the line: whatever the pattern wants next starts with ":" or
 * ",", so the engine has no other way. */
static const char *number(const char *p, const char *end, int field, Spans *s)
{
    Py_ssize_t n = digits(p, end, 10);
    if (n == 0 || (p + n < end && is_digit((unsigned char)p[n])))
        return NULL;
    s->at[field] = p;
    s->len[field] = n;
    return p + n;
}

/* A tail "[^\r\n<]{0,LIMIT-1}[^\r\n<=]" running to the line end: 1 to LIMIT bytes, no CR or
 * "<", the last not "=". */
static int tail_ok(const char *p, const char *end, Py_ssize_t least, Py_ssize_t most)
{
    Py_ssize_t n = end - p;
    if (n < least || n > most || memchr(p, '\r', n) || memchr(p, '<', n) || end[-1] == '=')
        return 0;
    return 1;
}

/* After "Flags [...]": "(?:, seq N(?::M|)|)(?:, ack N|)(?:, win N|)(?:, options [...]|),
 * length N(?:: TAIL|)" to the line end. Each optional part starts with a word no later
 * part starts with: when its start is there but the rest is not, the line fails. */
static int tcp_rest(const char *p, const char *end, Spans *s)
{
    if (starts(p, end, ", seq ", 6)) {
        if (!(p = number(p + 6, end, F_SEQ, s)))
            return 0;
        if (p < end && *p == ':') {
            Py_ssize_t n = digits(p + 1, end, 10);
            if (n == 0)  /* ":" left for ", ack" and the rest, which do not start with it */
                return 0;
            p += 1 + n;
            if (p < end && is_digit((unsigned char)*p))
                return 0;
        }
    }
    if (starts(p, end, ", ack ", 6) && !(p = number(p + 6, end, F_ACK, s)))
        return 0;
    if (starts(p, end, ", win ", 6) && !(p = number(p + 6, end, F_WIN, s)))
        return 0;
    if (starts(p, end, ", options [", 11)) {
        const char *o = p + 11, *q = o;
        int ts = 0;
        if (starts(q, end, "nop,nop,TS val ", 15)) {
            Spans t = *s;
            q = number(q + 15, end, F_TSV, &t);
            if (q && starts(q, end, " ecr ", 5)) {
                q = number(q + 5, end, F_ECR, &t);
                if (q && q < end && *q == ']') {
                    *s = t;
                    p = q + 1;
                    ts = 1;
                }
            }
        }
        if (!ts) {  /* "([^\]\n]{0,LIMIT}+)\]": a possessive run, then "]" */
            const char *close = memchr(o, ']', end - o);
            if (!close || close - o > LIMIT)
                return 0;
            s->at[F_OPTS] = o;
            s->len[F_OPTS] = close - o;
            p = close + 1;
        }
    }
    if (!starts(p, end, ", length ", 9) || !(p = number(p + 9, end, F_LEN, s)))
        return 0;
    if (p == end)
        return 1;
    /* ": " then a tail of 1 to LIMIT bytes (the pattern's {0,LIMIT-1} and one more) */
    return starts(p, end, ": ", 2) && tail_ok(p + 2, end, 1, LIMIT);
}

/* From "IP": "IP6?+ WORD+ > WORD: " (WORD+: WORD possessive) then TCP flags and the rest, or a UDP text. */
static int after_column(const char *p, const char *end, Spans *s)
{
    const char *a = p, *q;
    if (!starts(p, end, "IP", 2))
        return 0;
    p += 2;
    if (p < end && *p == '6')  /* possessive: "6" taken when there */
        p++;
    if (p >= end || *p != ' ')
        return 0;
    p++;
    /* the source: "[!-~]{1,LIMIT}+" (possessive), then " > " */
    q = p;
    while (q < end && is_word((unsigned char)*q))
        q++;
    if (q == p || q - p > LIMIT || !starts(q, end, " > ", 3))
        return 0;
    /* the destination: [!-~]{1,LIMIT} then ": ". It has no space, so it ends where the run of
     * [!-~] after " > " does, less the ":" that run must end with. */
    p = q + 3;
    q = p;
    while (q < end && is_word((unsigned char)*q))
        q++;
    if (q - p < 2 || q[-1] != ':' || q - 1 - p > LIMIT || q >= end || *q != ' ')
        return 0;
    s->at[F_ADDRS] = a;
    s->len[F_ADDRS] = q - 1 - a;
    p = q + 1;
    if (starts(p, end, "Flags [", 7)) {
        const char *f = p + 7;
        q = f;
        while (q < end && *q && strchr("SFRPU.EWe", *q))
            q++;
        if (q == f || q >= end || *q != ']')
            return 0;  /* the UDP texts start with a digit or "UDP", not "F" */
        s->at[F_FLAGS] = f;
        s->len[F_FLAGS] = q - f;
        return tcp_rest(q + 1, end, s);
    }
    if (p < end && is_digit((unsigned char)*p)) {  /* "\d[^\r\n<]*[^\r\n<=]" */
        if (!tail_ok(p, end, 2, PY_SSIZE_T_MAX))
            return 0;
    } else if (starts(p, end, "UDP, length ", 12)) {  /* "UDP, length \d++" */
        const char *d = p + 12;
        if (d == end)
            return 0;
        for (q = d; q < end; q++)
            if (!is_digit((unsigned char)*q))
                return 0;
    } else {
        return 0;
    }
    s->at[F_UDP] = p;
    s->len[F_UDP] = end - p;
    return 1;
}

static int two_digits(const char *p) { return is_digit(p[0]) && is_digit(p[1]); }

/* The common form of the line [p, end), its fields in s; 0: another line. */
static int common(const char *p, const char *end, Spans *s)
{
    Py_ssize_t n = end - p, k;
    const char *q;
    /* the stamp's seconds: the three forms cannot both match at one start */
    if (n >= 8 && two_digits(p) && p[2] == ':' && two_digits(p + 3) && p[5] == ':'
            && two_digits(p + 6))
        k = 8;
    else if (n >= 19 && two_digits(p) && two_digits(p + 2) && p[4] == '-' && two_digits(p + 5)
             && p[7] == '-' && two_digits(p + 8) && p[10] == ' ' && two_digits(p + 11)
             && p[13] == ':' && two_digits(p + 14) && p[16] == ':' && two_digits(p + 17))
        k = 19;
    else if (digits(p, end, 10) == 10)
        k = 10;
    else
        return 0;
    if (n < k + 8 || p[k] != '.' || digits(p + k + 1, end, 6) != 6 || p[k + 7] != ' ')
        return 0;
    s->at[F_STAMP] = p;
    s->len[F_STAMP] = k;
    s->at[F_FRAC] = p + k + 1;
    s->len[F_FRAC] = 6;
    p += k + 8;
    /* no column: "(?=IP)"; the engine tries it first, then the column */
    if (starts(p, end, "IP", 2)) {
        Spans t = *s;
        if (after_column(p, end, &t)) {
            *s = t;
            return 1;
        }
    }
    /* "NAME +WORD +": NAME has no space, so it is the run of [!-=?-~] up to the first one */
    q = p;
    while (q < end && is_name((unsigned char)*q))
        q++;
    if (q == p || q - p > LIMIT || q >= end || *q != ' ')
        return 0;
    while (q < end && *q == ' ')
        q++;
    {
        static const char *const words[] = {"In", "Out", "M", "B", "P"};
        const char *w = q;
        size_t i;
        while (q < end && *q != ' ')
            q++;
        for (i = 0; i < sizeof words / sizeof *words; i++)
            if ((size_t)(q - w) == strlen(words[i]) && memcmp(w, words[i], q - w) == 0)
                break;
        if (i == sizeof words / sizeof *words || q >= end)
            return 0;
    }
    s->at[F_COLUMN] = p;
    s->len[F_COLUMN] = q - p;
    while (q < end && *q == ' ')
        q++;
    return after_column(q, end, s);
}

/* Equal texts as one object: an open-addressing table of bytes objects, for one call. */
typedef struct {
    PyObject **slot;
    size_t mask, used;
} Intern;

#define INTERN_MOST (1u << 18)

/* A hash of n bytes, 8 at a time. */
static size_t hash_of(const char *p, Py_ssize_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15u ^ (uint64_t)n, w;
    while (n >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    return (size_t)(h ^ (h >> 29));
}

static PyObject *intern(Intern *t, const char *p, Py_ssize_t n)
{
    size_t i;
    PyObject *o;
    if (t->used * 2 >= t->mask) {  /* grow, or stop keeping new ones */
        if (t->mask + 1 < INTERN_MOST) {
            size_t size = 2 * (t->mask + 1), j;
            PyObject **slot = PyMem_Calloc(size, sizeof *slot);
            if (!slot)
                return PyErr_NoMemory();
            for (j = 0; j <= t->mask; j++) {
                PyObject *x = t->slot[j];
                size_t m;
                if (!x)
                    continue;
                for (m = hash_of(PyBytes_AS_STRING(x), PyBytes_GET_SIZE(x)) & (size - 1);
                     slot[m]; m = (m + 1) & (size - 1))
                    ;
                slot[m] = x;
            }
            PyMem_Free(t->slot);
            t->slot = slot;
            t->mask = size - 1;
        } else {
            return PyBytes_FromStringAndSize(p, n);
        }
    }
    for (i = hash_of(p, n) & t->mask; (o = t->slot[i]); i = (i + 1) & t->mask)
        if (PyBytes_GET_SIZE(o) == n && memcmp(PyBytes_AS_STRING(o), p, n) == 0) {
            Py_INCREF(o);
            return o;
        }
    o = PyBytes_FromStringAndSize(p, n);
    if (!o)
        return NULL;
    Py_INCREF(o);
    t->slot[i] = o;
    t->used++;
    return o;
}

static void intern_free(Intern *t)
{
    size_t j;
    if (!t->slot)
        return;
    for (j = 0; j <= t->mask; j++)
        Py_XDECREF(t->slot[j]);
    PyMem_Free(t->slot);
}

static PyObject *scan(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    PyObject *out = NULL, *empty = NULL;
    Intern table = {NULL, 0, 0};
    PyObject *last[FIELDS] = {NULL};  /* each field's object on the line before (borrowed) */
    const char *p, *end;
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    p = view.buf;
    end = p + view.len;
    table.slot = PyMem_Calloc(1024, sizeof *table.slot);
    out = PyList_New(0);
    empty = PyBytes_FromStringAndSize(NULL, 0);
    if (!table.slot || !out || !empty)
        goto fail;
    table.mask = 1023;
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        Spans s;
        PyObject *row;
        int f;
        if (!nl)
            break;
        memset(&s, 0, sizeof s);
        if (!common(p, nl, &s)) {
            memset(&s, 0, sizeof s);
            s.at[OTHER] = p;
            s.len[OTHER] = nl - p;
        }
        row = PyTuple_New(FIELDS);
        if (!row)
            goto fail;
        for (f = 0; f < FIELDS; f++) {
            PyObject *o;
            if (!s.at[f] || s.len[f] == 0) {
                Py_INCREF(empty);
                o = empty;
            } else if (f == F_FRAC || f == OTHER || f == F_SEQ || f == F_ACK || f == F_TSV
                       || f == F_ECR) {  /* mostly unique: not worth a lookup */
                o = PyBytes_FromStringAndSize(s.at[f], s.len[f]);
            } else if (last[f] && PyBytes_GET_SIZE(last[f]) == s.len[f]
                       && memcmp(PyBytes_AS_STRING(last[f]), s.at[f], s.len[f]) == 0) {
                o = last[f];  /* as the line before: held by its row until the call ends */
                Py_INCREF(o);
            } else {
                o = last[f] = intern(&table, s.at[f], s.len[f]);
            }
            if (!o) {
                Py_DECREF(row);
                goto fail;
            }
            PyTuple_SET_ITEM(row, f, o);
        }
        if (PyList_Append(out, row) < 0) {
            Py_DECREF(row);
            goto fail;
        }
        Py_DECREF(row);
        p = nl + 1;
    }
    intern_free(&table);
    Py_DECREF(empty);
    PyBuffer_Release(&view);
    return out;
fail:
    intern_free(&table);
    Py_XDECREF(empty);
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

/* pairs: FastLine.make_pairs' loop for address pairs of dotted quads (see there). */

static int quad(const char *p, Py_ssize_t n)  /* text_fields.V4_HOST: \d{1,3}(\.\d{1,3}){3} */
{
    Py_ssize_t i = 0;
    int part;
    for (part = 0; part < 4; part++) {
        Py_ssize_t k = 0;
        if (part) {
            if (i >= n || p[i] != '.')
                return 0;
            i++;
        }
        while (i < n && k < 3 && is_digit((unsigned char)p[i]))
            i++, k++;
        if (k == 0)
            return 0;
    }
    return i == n;
}

/* A dict emptied when it holds `limit` entries or more, then d[k] = v (model.cache). */
static int put(PyObject *d, PyObject *k, PyObject *v, Py_ssize_t limit)
{
    if (PyDict_GET_SIZE(d) >= limit)
        PyDict_Clear(d);
    return PyDict_SetItem(d, k, v);
}

/* The host of a side: known[text] (a str, or None), or None for a dotted quad not known yet
 * (*fresh: made_host makes it); NULL with no error set: not one this loop makes
 * (FastLine._addr's). A new reference. */
static PyObject *host(PyObject *known, PyObject *text, int *fresh)
{
    PyObject *got = PyDict_GetItemWithError(known, text);
    *fresh = 0;
    if (got || PyErr_Occurred()) {
        Py_XINCREF(got);
        return got;
    }
    if (!quad(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text)))
        return NULL;
    *fresh = 1;
    Py_INCREF(Py_None);
    return Py_None;
}

static PyObject *made_host(PyObject *text, PyObject *known, PyObject *v4, PyObject *v4_list,
                           Py_ssize_t limit)
{
    PyObject *name = PyUnicode_DecodeASCII(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text),
                                           NULL);
    if (!name || put(known, text, name, limit) < 0)
        goto fail;
    if (v4 != Py_None) {
        PyObject *at = PyLong_FromSsize_t(PyList_GET_SIZE(v4_list));
        if (!at || put(v4, name, at, limit) < 0 || PyList_Append(v4_list, name) < 0) {
            Py_XDECREF(at);
            goto fail;
        }
        Py_DECREF(at);
    }
    return name;
fail:
    Py_XDECREF(name);
    return NULL;
}

/* The port of a port text (-1: not one): text_fast._port's value, without its cache (a cache
 * of a pure function: reading the digits costs less than the lookup). */
static long port_of(const char *p, Py_ssize_t n)
{
    long port = 0;
    Py_ssize_t i;
    if (n == 0 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (!is_digit((unsigned char)p[i]))
            return -1;
        port = port * 10 + (p[i] - '0');
    }
    return port;
}

static PyObject *TWENTY;  /* the IPv4 header length, made once (PyInit__scan) */

/* Append each of n new references to list (stolen); -1 on failure. */
static int append_all(PyObject *list, PyObject **items, int n)
{
    int k, bad = 0;
    for (k = 0; k < n; k++) {
        if (!items[k] || (!bad && PyList_Append(list, items[k]) < 0))
            bad = 1;
        Py_XDECREF(items[k]);
    }
    return bad ? -1 : 0;
}

static PyObject *pairs(PyObject *self, PyObject *args)
{
    PyObject *items, *pair_list, *known, *v4, *v4_list, *conn_ids, *conv_keys, *tcp_cache,
        *udp_cache, *rows;
    Py_ssize_t start, limit, i, n;
    int udp_proto;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!nO!O!OO!O!O!O!O!O!ni", &PyList_Type, &items, &start,
                          &PyList_Type, &pair_list, &PyDict_Type, &known, &v4, &PyList_Type,
                          &v4_list, &PyDict_Type, &conn_ids, &PyList_Type, &conv_keys,
                          &PyDict_Type, &tcp_cache, &PyDict_Type, &udp_cache, &PyList_Type,
                          &rows, &limit, &udp_proto))
        return NULL;
    n = PyList_GET_SIZE(items);
    for (i = start; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i), *text, *proto, *cache;
        PyObject *src_h = NULL, *dst_h = NULL, *src = NULL, *dst = NULL;
        PyObject *key = NULL, *back = NULL, *both, *conn = NULL, *back_t = NULL;
        PyObject *sp_o = NULL, *dp_o = NULL, *at = NULL, *entry = NULL;
        const char *t, *gt, *sdot, *ddot, *pair;
        Py_ssize_t len, klen, plen;
        int src_new, dst_new, first, last, has, ok = 0;
        long sp, dp, src_v = -1, dst_v = -1;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2)
            break;
        text = PyTuple_GET_ITEM(item, 0);
        proto = PyTuple_GET_ITEM(item, 1);
        if (!PyBytes_CheckExact(text) || !PyLong_CheckExact(proto))
            break;
        cache = PyLong_AsLong(proto) == udp_proto ? udp_cache : tcp_cache;
        has = PyDict_Contains(cache, text);
        if (has < 0)
            return NULL;
        if (has)
            continue;
        t = PyBytes_AS_STRING(text);
        len = PyBytes_GET_SIZE(text);
        if (len < 3)
            break;
        if (t[2] == ' ')
            klen = 3;
        else if (len >= 4 && memcmp(t, "IP6 ", 4) == 0)
            break;  /* IPv6: FastLine's own loop */
        else
            klen = 0;
        pair = t + klen;
        plen = len - klen;
        for (gt = pair; gt + 3 <= pair + plen && memcmp(gt, " > ", 3); gt++)
            ;
        if (gt + 3 > pair + plen)
            break;  /* no " > ": partition's empty destination, FastLine's loop */
        for (sdot = gt - 1; sdot >= pair && *sdot != '.'; sdot--)
            ;
        for (ddot = pair + plen - 1; ddot > gt + 2 && *ddot != '.'; ddot--)
            ;
        if (sdot < pair || ddot <= gt + 2)
            break;  /* a side without a ".": FastLine's loop */
        src_h = PyBytes_FromStringAndSize(pair, sdot - pair);
        dst_h = PyBytes_FromStringAndSize(gt + 3, ddot - (gt + 3));
        if (!src_h || !dst_h)
            goto fail;
        src = host(known, src_h, &src_new);  /* new references from here on */
        dst = src ? host(known, dst_h, &dst_new) : NULL;
        if (!dst)  /* a side this loop does not make: checked before anything moves */
            goto left;
        if (src_new) {
            Py_DECREF(src);
            Py_DECREF(dst);
            if (!(src = made_host(src_h, known, v4, v4_list, limit)))
                goto fail;
            /* the destination again, as the loop looks it up after the source is made (the
             * same host, or known emptied on the way); one it does not make is then left to
             * it, which finds the source made as it would have made it */
            if (!(dst = host(known, dst_h, &dst_new)))
                goto left;
        }
        if (dst_new) {
            Py_DECREF(dst);
            if (!(dst = made_host(dst_h, known, v4, v4_list, limit))) {
                Py_DECREF(src);
                goto fail;
            }
        }
        sp = port_of(sdot + 1, gt - sdot - 1);
        dp = port_of(ddot + 1, pair + plen - ddot - 1);
        if (PyDict_GET_SIZE(cache) >= limit)
            PyDict_Clear(cache);
        if (src == Py_None || dst == Py_None || sp < 0 || sp > 0xFFFF || dp < 0 || dp > 0xFFFF) {
            PyObject *minus = PyLong_FromLong(-1);
            if (!minus || PyDict_SetItem(cache, text, minus) < 0) {
                Py_XDECREF(minus);
                goto fail_hosts;
            }
            Py_DECREF(minus);
            ok = 1;
            goto fail_hosts;
        }
        if (v4 != Py_None) {  /* hdr 20: IPv4 */
            PyObject *got = PyDict_GetItemWithError(v4, src);
            if (got)
                src_v = PyLong_AsLong(got);
            else if (PyErr_Occurred())
                goto fail_hosts;
            if (src_v >= 0) {
                got = PyDict_GetItemWithError(v4, dst);
                if (got)
                    dst_v = PyLong_AsLong(got);
                else if (PyErr_Occurred())
                    goto fail_hosts;
            }
        }
        sp_o = PyLong_FromLong(sp);
        dp_o = PyLong_FromLong(dp);
        key = sp_o && dp_o ? PyTuple_Pack(4, src, sp_o, dst, dp_o) : NULL;
        back = key ? PyTuple_Pack(4, dst, dp_o, src, sp_o) : NULL;
        if (!back)
            goto fail_hosts;
        first = PyObject_RichCompareBool(key, back, Py_LE);
        if (first < 0)
            goto fail_hosts;
        both = first ? key : back;
        conn = PyDict_GetItemWithError(conn_ids, both);
        if (conn)
            Py_INCREF(conn);
        else if (PyErr_Occurred())
            goto fail_hosts;
        else if (!(conn = PyLong_FromSsize_t(PyList_GET_SIZE(conv_keys)))
                 || PyDict_SetItem(conn_ids, both, conn) < 0 || PyList_Append(conv_keys, both) < 0)
            goto fail_conn;
        last = PyObject_RichCompareBool(both, back, Py_EQ);
        if (last < 0)
            goto fail_conn;
        at = PyLong_FromSsize_t(PyList_GET_SIZE(pair_list));
        entry = at ? PyTuple_Pack(5, proto, sp_o, dp_o, key, TWENTY) : NULL;
        if (!entry || PyDict_SetItem(cache, text, at) < 0 || PyList_Append(pair_list, entry) < 0)
            goto fail_conn;
        Py_CLEAR(at);
        Py_CLEAR(entry);
        back_t = PyBytes_FromStringAndSize(NULL, len);
        if (!back_t)
            goto fail_conn;
        {  /* keyword, destination, " > ", source */
            char *b = PyBytes_AS_STRING(back_t);
            Py_ssize_t dlen = pair + plen - (gt + 3), slen = gt - pair;
            memcpy(b, t, klen);
            memcpy(b + klen, gt + 3, dlen);
            memcpy(b + klen + dlen, " > ", 3);
            memcpy(b + klen + dlen + 3, pair, slen);
        }
        has = PyDict_Contains(cache, back_t);
        if (has < 0)
            goto fail_conn;
        if (!has) {
            at = PyLong_FromSsize_t(PyList_GET_SIZE(pair_list));
            entry = at ? PyTuple_Pack(5, proto, dp_o, sp_o, back, TWENTY) : NULL;
            if (!entry || PyDict_SetItem(cache, back_t, at) < 0
                    || PyList_Append(pair_list, entry) < 0)
                goto fail_conn;
        }
        {  /* the pair's row of per_pair, then whether the other direction was made */
            PyObject *row_items[10];
            Py_INCREF(TWENTY);
            Py_INCREF(conn);
            Py_INCREF(first ? Py_True : Py_False);
            Py_INCREF(last ? Py_True : Py_False);
            Py_INCREF(proto);
            Py_INCREF(sp_o);
            Py_INCREF(dp_o);
            row_items[0] = TWENTY;
            row_items[1] = conn;
            row_items[2] = first ? Py_True : Py_False;
            row_items[3] = last ? Py_True : Py_False;
            row_items[4] = proto;
            row_items[5] = sp_o;
            row_items[6] = dp_o;
            row_items[7] = PyLong_FromLong(src_v);
            row_items[8] = PyLong_FromLong(dst_v);
            row_items[9] = PyLong_FromLong(!has);
            if (append_all(rows, row_items, 10) < 0)
                goto fail_conn;
        }
        ok = 1;
    fail_conn:
        Py_XDECREF(conn);
    fail_hosts:
        Py_DECREF(src);
        Py_DECREF(dst);
        Py_XDECREF(at);
        Py_XDECREF(entry);
        Py_XDECREF(back_t);
        Py_XDECREF(key);
        Py_XDECREF(back);
        Py_XDECREF(sp_o);
        Py_XDECREF(dp_o);
        Py_DECREF(src_h);
        Py_DECREF(dst_h);
        if (!ok)
            return NULL;
        continue;
    left:  /* the item is the Python loop's (or a lookup failed): src, if any, is all it holds */
        Py_XDECREF(src);
        Py_DECREF(src_h);
        Py_DECREF(dst_h);
        if (PyErr_Occurred())
            return NULL;
        break;
    fail:
        Py_XDECREF(src_h);
        Py_XDECREF(dst_h);
        return NULL;
    }
    return PyLong_FromSsize_t(i);
}

/* The digits of a field as a number, -1 for an empty one; -3: not 1 to 18 ASCII digits. */
static long long digits_value(PyObject *t)
{
    const unsigned char *d;
    Py_ssize_t k, len;
    long long v = 0;
    if (!PyBytes_Check(t))
        return -3;
    d = (const unsigned char *)PyBytes_AS_STRING(t);
    len = PyBytes_GET_SIZE(t);
    if (len == 0)
        return -1;
    if (len > 18)
        return -3;
    for (k = 0; k < len; k++) {
        if (!is_digit(d[k]))
            return -3;
        v = v * 10 + (d[k] - '0');
    }
    return v;
}

/* The items as a sequence (*n of them) and out as a writable int64 buffer of `per` numbers an
 * item: a new reference, or NULL (an error set, view released). */
static PyObject *items_and_out(PyObject *items, PyObject *out, Py_buffer *view, Py_ssize_t per,
                               const char *what, Py_ssize_t *n)
{
    PyObject *seq;
    if (PyObject_GetBuffer(out, view, PyBUF_WRITABLE) < 0)
        return NULL;
    seq = PySequence_Fast(items, what);
    if (!seq) {
        PyBuffer_Release(view);
        return NULL;
    }
    *n = PySequence_Fast_GET_SIZE(seq);
    if (view->len != per * *n * (Py_ssize_t)sizeof(long long)) {
        PyErr_Format(PyExc_ValueError, "%s: out must hold %zd int64 an item", what, per);
        Py_DECREF(seq);
        PyBuffer_Release(view);
        return NULL;
    }
    return seq;
}

/* The end of numbers, syns and columns: True/False as ok, None with the error of a lookup. */
static PyObject *done(PyObject *seq, Py_buffer *view, int ok)
{
    Py_DECREF(seq);
    PyBuffer_Release(view);
    if (ok < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

/* numbers(texts, out): each text's number into out (an int64 buffer of len(texts)), -1 for an
 * empty one; False (out part filled) when a text is not 1 to 18 ASCII digits. */
static PyObject *numbers(PyObject *self, PyObject *args)
{
    PyObject *texts, *out, *seq;
    Py_buffer view;
    Py_ssize_t n, i;
    long long v;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &texts, &out)
            || !(seq = items_and_out(texts, out, &view, 1, "numbers", &n)))
        return NULL;
    for (i = 0; ok && i < n; i++) {
        v = digits_value(PySequence_Fast_GET_ITEM(seq, i));
        if (v == -3)
            ok = 0;
        else
            ((long long *)view.buf)[i] = v;
    }
    return done(seq, &view, ok);
}

/* d.get(key, missing) as a C long; -3 with an error set on failure. */
static long long looked_up(PyObject *d, PyObject *key, long long missing)
{
    PyObject *got = PyDict_GetItemWithError(d, key);
    if (!got)
        return PyErr_Occurred() ? -3 : missing;
    return PyLong_AsLongLong(got);
}

/* columns(rows, seconds, tcp_ends, udp_ends, flags, out): text_block.fill_block's first
 * lookups of common rows, into out (int64, 10 x len(rows), a field a row): the seconds of
 * each stamp (seconds.get, -2 missing), the microseconds in ns, the address pair (the TCP or
 * UDP cache's, by whether there are flags; -2 missing), the flag bits (-1 no flags, -2
 * missing), then seq, ack, win, TS val, TS ecr and length (-1 empty). False (out part filled):
 * a field that is not digits where digits stand (not one of scan's rows). */
static PyObject *columns(PyObject *self, PyObject *args)
{
    PyObject *rows, *out_arg, *seconds, *tcp_ends, *udp_ends, *flag_bits, *seq;
    Py_buffer view;
    Py_ssize_t n, i;
    long long *out;
    int ok = 1;
    static const int number_fields[6] = {F_SEQ, F_ACK, F_WIN, F_TSV, F_ECR, F_LEN};
    (void)self;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!O", &rows, &PyDict_Type, &seconds, &PyDict_Type,
                          &tcp_ends, &PyDict_Type, &udp_ends, &PyDict_Type, &flag_bits,
                          &out_arg))
        return NULL;
    if (!(seq = items_and_out(rows, out_arg, &view, 10, "columns", &n)))
        return NULL;
    out = view.buf;
    for (i = 0; ok == 1 && i < n; i++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, i), *flags, *frac;
        long long v;
        int k;
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != FIELDS) {
            ok = 0;
            break;
        }
        if ((v = looked_up(seconds, PyTuple_GET_ITEM(row, F_STAMP), -2)) == -3 && PyErr_Occurred())
            ok = -1;
        out[i] = v;
        frac = PyTuple_GET_ITEM(row, F_FRAC);  /* exactly six digits */
        if (!PyBytes_Check(frac) || PyBytes_GET_SIZE(frac) != 6 || (v = digits_value(frac)) < 0) {
            ok = 0;
            break;
        }
        out[n + i] = 1000 * v;
        flags = PyTuple_GET_ITEM(row, F_FLAGS);
        if (!PyBytes_Check(flags)) {
            ok = 0;
            break;
        }
        v = looked_up(PyBytes_GET_SIZE(flags) ? tcp_ends : udp_ends,
                      PyTuple_GET_ITEM(row, F_ADDRS), -2);
        if (v == -3 && PyErr_Occurred())
            ok = -1;
        out[2 * n + i] = v;
        v = PyBytes_GET_SIZE(flags) ? looked_up(flag_bits, flags, -2) : -1;
        if (v == -3 && PyErr_Occurred())
            ok = -1;
        out[3 * n + i] = v;
        for (k = 0; k < 6; k++) {
            v = digits_value(PyTuple_GET_ITEM(row, number_fields[k]));
            if (v == -3) {
                ok = 0;
                break;
            }
            out[(4 + k) * n + i] = v;
        }
    }
    return done(seq, &view, ok);
}

/* syns(texts, out): the four numbers of texts that are all a Linux SYN's options, "mss
 * N,sackOK,TS val N ecr N,nop,wscale N" (each N 1 to 10 ASCII digits), into out (int64,
 * 4 x len(texts): mss, TS val, TS ecr, wscale); False (out part filled) at another text. */
static PyObject *syns(PyObject *self, PyObject *args)
{
    static const char *const words[4] = {"mss ", ",sackOK,TS val ", " ecr ", ",nop,wscale "};
    PyObject *texts, *out_arg, *seq;
    Py_buffer view;
    Py_ssize_t n, i;
    long long *out;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &texts, &out_arg)
            || !(seq = items_and_out(texts, out_arg, &view, 4, "syns", &n)))
        return NULL;
    out = view.buf;
    for (i = 0; ok && i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
        const char *p, *end;
        int k;
        if (!PyBytes_Check(t)) {
            ok = 0;
            break;
        }
        p = PyBytes_AS_STRING(t);
        end = p + PyBytes_GET_SIZE(t);
        for (k = 0; ok && k < 4; k++) {
            Py_ssize_t w = (Py_ssize_t)strlen(words[k]), d;
            long long v = 0, j;
            if (!starts(p, end, words[k], w)) {
                ok = 0;
                break;
            }
            p += w;
            d = digits(p, end, 11);
            if (d == 0 || d > 10) {
                ok = 0;
                break;
            }
            for (j = 0; j < d; j++)
                v = v * 10 + (p[j] - '0');
            out[k * n + i] = v;
            p += d;
        }
        if (ok && p != end)
            ok = 0;
    }
    return done(seq, &view, ok);
}

static PyMethodDef methods[] = {
    {"syns", syns, METH_VARARGS,
     "syns(texts, out) -> bool: the numbers of texts that are all a Linux SYN's options."},
    {"columns", columns, METH_VARARGS,
     "columns(rows, seconds, tcp_ends, udp_ends, flags, out) -> bool: fill_block's first "
     "lookups and numbers of common rows, a field a row of out."},
    {"pairs", pairs, METH_VARARGS,
     "pairs(items, start, pairs, known, v4, v4_list, conn_ids, conv_keys, tcp_cache, "
     "udp_cache, rows, limit, udp) -> index: FastLine.make_pairs' loop for the "
     "dotted quads from items[start], up to the first item it leaves to that loop."},
    {"numbers", numbers, METH_VARARGS,
     "numbers(texts, out) -> bool: each text's digits as an int64 of out (-1: empty)."},
    {"scan", scan, METH_O,
     "scan(block) -> text_fast._LINE.findall(block): a 14-tuple of bytes a line."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "text_fast._LINE.findall, compiled.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void)
{
    if (!TWENTY && !(TWENTY = PyLong_FromLong(20)))
        return NULL;
    return PyModule_Create(&module);
}
