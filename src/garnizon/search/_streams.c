/* One pass over a document's pieces of text: their cached forms, and the
 * index's two streams joined (garnizon/search/analysis.py, `join_streams_py`
 * is the same in Python and the reference the tests compare this with).
 *
 * join_streams(pieces: list[str], cache: dict[str, tuple[str, str]],
 *              not_as_written: set[str])
 *   -> (forms: list[tuple[str, str]], lemma_text: str, surface_text: str | None)
 *   -> None when a piece is not in the cache
 *
 * A cached piece's forms are (surface text, lemma text), either possibly "";
 * each stream is the non-empty texts joined by one space. surface_text is None
 * when no piece is in not_as_written (the caller then indexes the text itself).
 *
 * tsvector_binary(forms, limit: int, access: str) -> bytes
 *
 * The same streams as PostgreSQL's tsvector in its binary form (tsvector_recv):
 * each word of the surface stream at its position (1, 2, ... up to `limit`),
 * each lemma that differs from its surface word at the same position, and
 * each access token of `access` (space-separated) as "~token" without
 * positions. Lexemes in PostgreSQL's order (bytes, then length), at most 256
 * positions each, as the text input would keep them.
 * garnizon/search/backends/postgresql.py, `tsvector_binary_py`, is the
 * reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The non-empty items `which` (0 surface, 1 lemma) of `forms`, joined by a space. */
static PyObject *
join_stream(PyObject *forms, Py_ssize_t which, PyObject *space)
{
    Py_ssize_t n = PyList_GET_SIZE(forms);
    PyObject *texts = PyList_New(0);
    if (texts == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyTuple_GET_ITEM(PyList_GET_ITEM(forms, i), which);
        if (PyUnicode_GET_LENGTH(text) > 0 && PyList_Append(texts, text) < 0) {
            Py_DECREF(texts);
            return NULL;
        }
    }
    PyObject *joined = PyUnicode_Join(space, texts);
    Py_DECREF(texts);
    return joined;
}

static PyObject *
join_streams(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) ||
        !PyAnySet_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "join_streams(pieces: list, cache: dict, not_as_written: set)");
        return NULL;
    }
    PyObject *pieces = args[0], *cache = args[1], *not_as_written = args[2];
    Py_ssize_t n = PyList_GET_SIZE(pieces);
    int as_written = 1;
    int check = PySet_GET_SIZE(not_as_written) > 0;
    PyObject *forms = PyList_New(n);
    if (forms == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *piece = PyList_GET_ITEM(pieces, i);
        PyObject *found = PyDict_GetItemWithError(cache, piece); /* borrowed */
        if (found == NULL) {
            Py_DECREF(forms);
            if (PyErr_Occurred()) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
        if (!PyTuple_CheckExact(found) || PyTuple_GET_SIZE(found) != 2 ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(found, 0)) ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(found, 1))) {
            Py_DECREF(forms);
            PyErr_SetString(PyExc_TypeError, "a cached piece's forms are (str, str)");
            return NULL;
        }
        PyList_SET_ITEM(forms, i, Py_NewRef(found));
        if (check && as_written) {
            int odd = PySet_Contains(not_as_written, piece);
            if (odd < 0) {
                Py_DECREF(forms);
                return NULL;
            }
            as_written = !odd;
        }
    }
    PyObject *space = PyUnicode_FromOrdinal(' ');
    if (space == NULL) {
        Py_DECREF(forms);
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *surface = NULL;
    PyObject *lemma = join_stream(forms, 1, space);
    if (lemma != NULL) {
        surface = as_written ? Py_NewRef(Py_None) : join_stream(forms, 0, space);
        if (surface != NULL) {
            result = PyTuple_Pack(3, forms, lemma, surface);
        }
    }
    Py_XDECREF(surface);
    Py_XDECREF(lemma);
    Py_DECREF(space);
    Py_DECREF(forms);
    return result;
}

/* --- tsvector_binary --------------------------------------------------- */

#define MAX_POSITION 16383 /* PostgreSQL's MAXENTRYPOS - 1 */
#define MAX_POSITIONS 256  /* MAXNUMPOS */

typedef struct {
    const char *text; /* UTF-8, not NUL-terminated */
    Py_ssize_t size;
    uint32_t hash;
    Py_ssize_t first; /* index of its first position in the positions chain */
    Py_ssize_t last;
    Py_ssize_t count;
} Lexeme;

typedef struct {
    uint16_t position;
    Py_ssize_t next; /* -1 ends a lexeme's chain */
} Position;

typedef struct {
    Lexeme *lexemes;
    Py_ssize_t n, cap;
    Py_ssize_t *slots; /* open addressing: index + 1, 0 = empty */
    Py_ssize_t nslots;
    Position *positions;
    Py_ssize_t npositions, cappositions;
} Vector;

static uint32_t
fnv1a(const char *text, Py_ssize_t size)
{
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < size; i++) {
        h ^= (unsigned char)text[i];
        h *= 16777619u;
    }
    return h;
}

static int
vector_grow_slots(Vector *v)
{
    Py_ssize_t nslots = v->nslots ? v->nslots * 2 : 1024;
    Py_ssize_t *slots = PyMem_Calloc(nslots, sizeof(Py_ssize_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < v->n; i++) {
        Py_ssize_t j = v->lexemes[i].hash & (nslots - 1);
        while (slots[j]) {
            j = (j + 1) & (nslots - 1);
        }
        slots[j] = i + 1;
    }
    PyMem_Free(v->slots);
    v->slots = slots;
    v->nslots = nslots;
    return 0;
}

/* The lexeme's index, added if new; -1 on error. */
static Py_ssize_t
vector_lexeme(Vector *v, const char *text, Py_ssize_t size)
{
    if ((v->n + 1) * 2 > v->nslots && vector_grow_slots(v) < 0) {
        return -1;
    }
    uint32_t hash = fnv1a(text, size);
    Py_ssize_t j = hash & (v->nslots - 1);
    while (v->slots[j]) {
        Lexeme *l = &v->lexemes[v->slots[j] - 1];
        if (l->hash == hash && l->size == size && memcmp(l->text, text, size) == 0) {
            return v->slots[j] - 1;
        }
        j = (j + 1) & (v->nslots - 1);
    }
    if (v->n == v->cap) {
        Py_ssize_t cap = v->cap ? v->cap * 2 : 512;
        Lexeme *lexemes = PyMem_Realloc(v->lexemes, cap * sizeof(Lexeme));
        if (lexemes == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        v->lexemes = lexemes;
        v->cap = cap;
    }
    Lexeme *l = &v->lexemes[v->n];
    l->text = text;
    l->size = size;
    l->hash = hash;
    l->first = l->last = -1;
    l->count = 0;
    v->slots[j] = v->n + 1;
    return v->n++;
}

static int
vector_add(Vector *v, const char *text, Py_ssize_t size, int position)
{
    Py_ssize_t index = vector_lexeme(v, text, size);
    if (index < 0) {
        return -1;
    }
    Lexeme *l = &v->lexemes[index];
    if (position == 0 || l->count >= MAX_POSITIONS) {
        return 0; /* positions come in ascending order: the first 256 are kept */
    }
    if (v->npositions == v->cappositions) {
        Py_ssize_t cap = v->cappositions ? v->cappositions * 2 : 2048;
        Position *positions = PyMem_Realloc(v->positions, cap * sizeof(Position));
        if (positions == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        v->positions = positions;
        v->cappositions = cap;
    }
    Position *p = &v->positions[v->npositions];
    p->position = (uint16_t)position;
    p->next = -1;
    if (l->last >= 0) {
        v->positions[l->last].next = v->npositions;
    }
    else {
        l->first = v->npositions;
    }
    l->last = v->npositions++;
    l->count++;
    return 0;
}

static void
vector_free(Vector *v)
{
    PyMem_Free(v->lexemes);
    PyMem_Free(v->slots);
    PyMem_Free(v->positions);
}

/* PostgreSQL's order of lexemes (tsCompareString): bytes, then the shorter first. */
static int
lexeme_order(const void *a, const void *b)
{
    const Lexeme *x = a, *y = b;
    Py_ssize_t n = x->size < y->size ? x->size : y->size;
    int c = memcmp(x->text, y->text, n);
    if (c) {
        return c;
    }
    return (x->size > y->size) - (x->size < y->size);
}

static void
put16(char **out, unsigned int value)
{
    (*out)[0] = (char)((value >> 8) & 0xff);
    (*out)[1] = (char)(value & 0xff);
    *out += 2;
}

static PyObject *
tsvector_binary(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyLong_Check(args[1]) ||
        !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "tsvector_binary(forms: list, limit: int, access: str)");
        return NULL;
    }
    PyObject *forms = args[0];
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (limit > MAX_POSITION) {
        limit = MAX_POSITION;
    }
    Vector v = {0};
    PyObject *result = NULL;
    PyObject *access = NULL;
    Py_ssize_t position = 0;
    Py_ssize_t nforms = PyList_GET_SIZE(forms);
    for (Py_ssize_t i = 0; i < nforms && position < limit; i++) {
        PyObject *pair = PyList_GET_ITEM(forms, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "forms are (surface, lemma) pairs");
            goto done;
        }
        Py_ssize_t ssize, lsize;
        /* UTF-8 kept by each (cached) str: computed once per piece. */
        const char *s = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 0), &ssize);
        const char *l = s ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 1), &lsize) : NULL;
        if (l == NULL) {
            goto done;
        }
        Py_ssize_t si = 0, li = 0;
        while (si < ssize && position < limit) {
            Py_ssize_t se = si, le = li;
            while (se < ssize && s[se] != ' ') {
                se++;
            }
            while (le < lsize && l[le] != ' ') {
                le++;
            }
            position++;
            if (vector_add(&v, s + si, se - si, (int)position) < 0) {
                goto done;
            }
            if (le > li && (le - li != se - si || memcmp(s + si, l + li, se - si) != 0) &&
                vector_add(&v, l + li, le - li, (int)position) < 0) {
                goto done;
            }
            si = se + 1;
            li = le + 1;
        }
    }
    /* The access tokens, "~" + token, without positions. */
    Py_ssize_t asize;
    const char *a = PyUnicode_AsUTF8AndSize(args[2], &asize);
    if (a == NULL) {
        goto done;
    }
    access = PyBytes_FromStringAndSize(NULL, asize + 1);
    if (access == NULL) {
        goto done;
    }
    char *marked = PyBytes_AS_STRING(access);
    for (Py_ssize_t i = 0; i < asize;) {
        while (i < asize && a[i] == ' ') {
            i++;
        }
        Py_ssize_t end = i;
        while (end < asize && a[end] != ' ') {
            end++;
        }
        if (end > i) {
            /* "~token" written just before the token: marked[i] holds "~". */
            marked[i] = '~';
            memcpy(marked + i + 1, a + i, end - i);
            if (vector_add(&v, marked + i, end - i + 1, 0) < 0) {
                goto done;
            }
        }
        i = end + 1;
    }
    qsort(v.lexemes, v.n, sizeof(Lexeme), lexeme_order);
    Py_ssize_t size = 4;
    for (Py_ssize_t i = 0; i < v.n; i++) {
        size += v.lexemes[i].size + 1 + 2 + 2 * v.lexemes[i].count;
    }
    result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL) {
        goto done;
    }
    char *out = PyBytes_AS_STRING(result);
    uint32_t n = (uint32_t)v.n;
    out[0] = (char)(n >> 24);
    out[1] = (char)(n >> 16);
    out[2] = (char)(n >> 8);
    out[3] = (char)n;
    out += 4;
    for (Py_ssize_t i = 0; i < v.n; i++) {
        Lexeme *l = &v.lexemes[i];
        memcpy(out, l->text, l->size);
        out += l->size;
        *out++ = '\0';
        put16(&out, (unsigned int)l->count);
        for (Py_ssize_t p = l->first; p >= 0; p = v.positions[p].next) {
            put16(&out, v.positions[p].position); /* weight D: the top bits 0 */
        }
    }
done:
    Py_XDECREF(access);
    vector_free(&v);
    return result;
}

static PyMethodDef methods[] = {
    {"join_streams", (PyCFunction)(void (*)(void))join_streams, METH_FASTCALL,
     "join_streams(pieces, cache, not_as_written) -> (forms, lemma_text, surface_text | None)"
     " | None"},
    {"tsvector_binary", (PyCFunction)(void (*)(void))tsvector_binary, METH_FASTCALL,
     "tsvector_binary(forms, limit, access) -> PostgreSQL's binary tsvector"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_streams",
    "A document's analysed streams joined in one pass; PostgreSQL's binary tsvector.",
    0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__streams(void)
{
    return PyModule_Create(&module);
}
