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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

static PyMethodDef methods[] = {
    {"join_streams", (PyCFunction)(void (*)(void))join_streams, METH_FASTCALL,
     "join_streams(pieces, cache, not_as_written) -> (forms, lemma_text, surface_text | None)"
     " | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_streams", "A document's analysed streams joined in one pass.",
    0, methods,
};

PyMODINIT_FUNC
PyInit__streams(void)
{
    return PyModule_Create(&module);
}
