/// \file
/// The deck's engine. Each module lists its keys with their type, default, unit, range and help text
/// (a PgKey table, deck.h) and reads their values into its own options (a loader); this file runs the
/// tables in order (tables[]): parsing, range checks, the unknown-key check, `-help` and
/// `-help_markdown` (the key table of README.md, rewritten by tools/keytable.py) follow from them, so
/// they cannot drift apart. After the loaders, the checks that involve the keys of several modules.
///
/// Values are read as strings from PETSc's options database and parsed here, so that a malformed
/// number is reported with the key's name in one line instead of a PETSc trace. Keys from the YAML
/// file are checked against the table on a private options object (every YAML key must be known);
/// command-line options are checked when they carry one of the deck's section prefixes, the rest
/// belong to PETSc. All checks run on every rank with identical data, so errors are collective.
#include <plurigauss/config.h>
#include <plurigauss/files.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>


/* The modules' key tables, in the order of -help and of the resolved deck (config.h). */
static const struct {
  const PgKey *keys;
  const int   *n;
} tables[] = {{PgModelKeys, &PgModelNKeys},
              {PgOutputKeys, &PgOutputNKeys},
              {PgInputKeys, &PgInputNKeys},
              {PgMeasureKeys, &PgMeasureNKeys},
              {PgConductivityKeys, &PgConductivityNKeys},
              {PgFFTKeys, &PgFFTNKeys},
              {PgSegmentKeys, &PgSegmentNKeys},
              {PgCalibrationKeys, &PgCalibrationNKeys},
              {PgRunKeys, &PgRunNKeys}};
#define NTABLES ((int)(sizeof(tables) / sizeof(tables[0])))

static int NKeys(void)
{
  int n = 0;
  for (int t = 0; t < NTABLES; t++) n += *tables[t].n;
  return n;
}

/* Key i of the tables taken in order. */
static const PgKey *KeyAt(int i)
{
  for (int t = 0; t < NTABLES; i -= *tables[t].n, t++)
    if (i < *tables[t].n) return &tables[t].keys[i];
  return NULL;
}

/* Section prefixes of the deck: a command-line option starting with one of them must be a key. */
static const char *const sections[] = {"domain_",  "model_", "random_",  "sweep_",       "output_",
                                       "fft_",     "input_", "measure_", "calibration_", "conductivity_",
                                       "segment_", "run_",   NULL};

/* The values read for the keys of all tables (index as KeyAt), and which are set in the YAML file. */
struct PgDeck_private {
  MPI_Comm     comm;
  PgDeckValue *val;
  PetscBool   *in_file;
};

/* The index of the key named name (with or without the leading dash), or -1. */
static int KeyIndex(const char *name)
{
  if (name[0] == '-') name++;
  for (int i = 0, n = NKeys(); i < n; i++)
    if (!strcmp(KeyAt(i)->name, name)) return i;
  return -1;
}

static const PgKey *FindKey(const char *name)
{
  int i = KeyIndex(name);
  return i < 0 ? NULL : KeyAt(i);
}

/* "model_alpha_x" -> "model.alpha_x", the way a user writes it in the deck */
static void DeckName(const char *opt, char *out, size_t len)
{
  const char *u = strchr(opt, '_');
  if (!u || !strcmp(opt, "threads")) {
    snprintf(out, len, "%s", opt);
    return;
  }
  snprintf(out, len, "%.*s.%s", (int)(u - opt), opt, u + 1);
}

static void RangeText(const PgKey *k, char *buf, size_t len)
{
  if (k->type == PG_KEY_ENUM) {
    size_t o = 0;
    for (int i = 0; k->names[i]; i++) o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "|" : "", k->names[i]);
  } else if (k->type == PG_KEY_BOOL) snprintf(buf, len, "true|false");
  else if (k->type == PG_KEY_STRING) snprintf(buf, len, "text");
  else {
    char        lo[32], hi[32];
    const char *fmt = k->type == PG_KEY_INT ? "%.0f" : "%g"; /* integers in full: [8, 16777216] */
    if (isinf(k->lo)) snprintf(lo, sizeof lo, "-inf");
    else snprintf(lo, sizeof lo, fmt, k->lo);
    if (isinf(k->hi)) snprintf(hi, sizeof hi, "inf");
    else snprintf(hi, sizeof hi, fmt, k->hi);
    snprintf(buf, len, "%s%s, %s%s", k->lo_open ? "(" : "[", lo, hi, k->hi_open ? ")" : "]");
  }
}

/* Parses the text of one key. Errors name the key, the value and what is allowed. */
static PetscErrorCode ParseValue(MPI_Comm comm, const PgKey *k, const char *text, PgDeckValue *val)
{
  char dn[128], range[128];

  PetscFunctionBeginUser;
  DeckName(k->name, dn, sizeof dn);
  RangeText(k, range, sizeof range);
  val->set = PETSC_TRUE;
  val->n   = 0;
  if (k->type == PG_KEY_STRING) {
    PetscCheck(strlen(text) < sizeof val->s, comm, PETSC_ERR_USER_INPUT, "%s: value is longer than %d characters", dn,
               (int)sizeof val->s - 1);
    snprintf(val->s, sizeof val->s, "%s", text);
    val->n = 1;
    PetscFunctionReturn(0);
  }
  if (k->type == PG_KEY_BOOL) {
    const char *t = text[0] ? text : "true";
    if (!strcasecmp(t, "true") || !strcasecmp(t, "yes") || !strcasecmp(t, "on") || !strcmp(t, "1")) val->v[0] = 1;
    else if (!strcasecmp(t, "false") || !strcasecmp(t, "no") || !strcasecmp(t, "off") || !strcmp(t, "0")) val->v[0] = 0;
    else SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s = '%s' is not a boolean; allowed: true|false", dn, text);
    val->n = 1;
    PetscFunctionReturn(0);
  }
  if (k->type == PG_KEY_ENUM) {
    for (int i = 0; k->names[i]; i++)
      if (!strcasecmp(text, k->names[i])) {
        val->v[0] = i;
        val->n    = 1;
        snprintf(val->s, sizeof val->s, "%s", k->names[i]);
        PetscFunctionReturn(0);
      }
    SETERRQ(comm, PETSC_ERR_USER_INPUT, "%s = '%s' is not allowed; allowed: %s", dn, text, range);
  }
  /* numbers: comma-separated list, optionally in brackets */
  char buf[4096];
  PetscCheck(strlen(text) < sizeof buf, comm, PETSC_ERR_USER_INPUT, "%s: value list too long", dn);
  snprintf(buf, sizeof buf, "%s", text);
  for (char *c = buf; *c; c++)
    if (*c == '[' || *c == ']') *c = ' ';
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*tok)) tok++;
    char *end = tok + strlen(tok);
    while (end > tok && isspace((unsigned char)end[-1])) *--end = 0;
    PetscCheck(
      val->n<k->nmax, comm, PETSC_ERR_USER_INPUT, "%s = '%s': at most %d value%s allowed", dn, text, k->nmax, k->nmax> 1
        ? "s"
        : "");
    errno       = 0;
    char  *stop = NULL;
    double x    = strtod(tok, &stop);
    PetscCheck(*tok && stop && *stop == 0 && errno == 0 && isfinite(x), comm, PETSC_ERR_USER_INPUT,
               "%s = '%s': '%s' is not a number", dn, text, tok);
    if (k->type == PG_KEY_INT)
      PetscCheck(x == floor(x), comm, PETSC_ERR_USER_INPUT, "%s = '%s': '%s' is not an integer", dn, text, tok);
    PetscBool ok = (k->lo_open ? x > k->lo : x >= k->lo) && (k->hi_open ? x < k->hi : x <= k->hi);
    PetscCheck(ok, comm, PETSC_ERR_USER_INPUT, "%s = %s is out of range; allowed: %s %s", dn, tok, range, k->unit);
    val->v[val->n++] = x;
  }
  PetscCheck(val->n >= k->nmin, comm, PETSC_ERR_USER_INPUT, "%s = '%s': needs %d value%s", dn, text, k->nmin,
             k->nmin > 1 ? "s" : "");
  PetscFunctionReturn(0);
}

/* Keys that also take a YAML map {value: phase}: PETSc's YAML reader names its entries PG_KEY_VALUE
 * (input.labels: {0: pore} becomes -input_labels_0 pore). */
static const char *const map_keys[] = {"input_labels", "calibration_volume_labels", NULL};

/* The map key whose entry `name` is (its value in *value), or NULL. */
static const char *MapEntryKey(const char *name, long long *value)
{
  if (name[0] == '-') name++;
  for (int i = 0; map_keys[i]; i++) {
    size_t n = strlen(map_keys[i]);
    if (!strncmp(name, map_keys[i], n) && name[n] == '_' && name[n + 1]) {
      char *end   = NULL;
      errno       = 0;
      long long v = strtoll(name + n + 1, &end, 10);
      if (end && !*end && !errno) {
        *value = v;
        return map_keys[i];
      }
    }
  }
  return NULL;
}

static int PhaseByName(const char *t)
{
  while (isspace((unsigned char)*t)) t++;
  size_t n = strlen(t);
  while (n && isspace((unsigned char)t[n - 1])) n--;
  if (n == 3 && !strncasecmp(t, "nvp", 3)) return 1;
  if (n == 6 && !strncasecmp(t, "carbon", 6)) return 2;
  if (n == 4 && !strncasecmp(t, "pore", 4)) return 3;
  return 0;
}

static const char *const phase_names[] = {"-", "nvp", "carbon", "pore"};

static PetscErrorCode LabelMapAdd(MPI_Comm comm, const char *dn, PgLabelMap *map, long long value, int phase)
{
  PetscFunctionBeginUser;
  for (int i = 0; i < map->n; i++)
    PetscCheck(map->value[i] != value, comm, PETSC_ERR_USER_INPUT, "%s: value %lld is mapped twice", dn, value);
  PetscCheck(map->n < PG_MAX_LABEL_VALUES, comm, PETSC_ERR_USER_INPUT, "%s: at most %d values can be mapped", dn,
             PG_MAX_LABEL_VALUES);
  map->value[map->n]   = value;
  map->phase[map->n++] = phase;
  PetscFunctionReturn(0);
}

static PetscBool ParseInteger(const char *t, long long *v)
{
  char *end = NULL;
  while (isspace((unsigned char)*t)) t++;
  errno = 0;
  *v    = strtoll(t, &end, 10);
  if (end == t || errno) return PETSC_FALSE;
  while (isspace((unsigned char)*end)) end++;
  return *end ? PETSC_FALSE : PETSC_TRUE;
}

/* given, the entries sorted by value, and the text of a map (for messages and the resolved deck) */
static void LabelMapFinish(PgLabelMap *map)
{
  size_t o = 0;

  map->given = map->n > 0;
  for (int i = 1; i < map->n; i++)
    for (int j = i; j > 0 && map->value[j - 1] > map->value[j]; j--) {
      long long v       = map->value[j];
      int       p       = map->phase[j];
      map->value[j]     = map->value[j - 1];
      map->phase[j]     = map->phase[j - 1];
      map->value[j - 1] = v;
      map->phase[j - 1] = p;
    }
  for (int i = 0; i < map->n && o < sizeof map->text; i++)
    o += (size_t)snprintf(map->text + o, sizeof map->text - o, "%s%lld:%s", i ? "," : "", map->value[i],
                          phase_names[map->phase[i]]);
  if (map->rest && o < sizeof map->text) snprintf(map->text + o, sizeof map->text - o, ",other:not nvp");
}

/* A label map from the deck: the text of KEY (a list [nvp, carbon, pore] of values, or pairs
 * phase=value / value:phase) or the YAML map entries PG_KEY_VALUE: phase. volume: the calibration
 * stack, whose list form may also be one value (the NVP value, everything else not NVP). */
static PetscErrorCode LabelMapFromOptions(MPI_Comm comm, const char *key, const char *text, PetscBool volume,
                                          PgLabelMap *map)
{
  char      dn[128], buf[4096], *save = NULL;
  PetscInt  n;
  char    **names, **values;
  PetscBool from_map = PETSC_FALSE;

  PetscFunctionBeginUser;
  DeckName(key, dn, sizeof dn);
  PetscCall(PetscMemzero(map, sizeof *map));
  /* the map form: entries PG_KEY_VALUE (collected first, then marked used) */
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    long long   v;
    const char *k = MapEntryKey(names[i], &v);
    if (!k || strcmp(k, key)) continue;
    int p = PhaseByName(values[i] ? values[i] : "");
    PetscCheck(p, comm, PETSC_ERR_USER_INPUT, "%s: value %lld maps to '%s'; allowed: nvp, carbon, pore", dn, v,
               values[i] ? values[i] : "");
    PetscCall(LabelMapAdd(comm, dn, map, v, p));
    from_map = PETSC_TRUE;
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  for (int i = 0; i < map->n; i++) {
    char opt[160];
    snprintf(opt, sizeof opt, "-%s_%lld", key, map->value[i]);
    PetscCall(PetscOptionsHasName(NULL, NULL, opt, NULL)); /* marks the entry used */
  }
  PetscCheck(!(from_map && text[0]), comm, PETSC_ERR_USER_INPUT, "%s is given both as a map and as '%s'; give one", dn,
             text);
  if (text[0]) {
    int nlist = 0;
    PetscCheck(strlen(text) < sizeof buf, comm, PETSC_ERR_USER_INPUT, "%s: value too long", dn);
    snprintf(buf, sizeof buf, "%s", text);
    for (char *c = buf; *c; c++)
      if (*c == '[' || *c == ']' || *c == '{' || *c == '}') *c = ' ';
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char     *sep = strpbrk(tok, "=:");
      long long v;
      if (sep) {
        /* phase=value or value:phase */
        *sep  = 0;
        int p = PhaseByName(tok), q = PhaseByName(sep + 1);
        PetscCheck(
          (p && ParseInteger(sep + 1, &v)) || (q && ParseInteger(tok, &v)), comm, PETSC_ERR_USER_INPUT,
          "%s = '%s': '%s%c%s' is neither phase=value nor value:phase (phases nvp, carbon, pore; integer values)", dn,
          text, tok, text[sep - buf], sep + 1);
        PetscCheck(!nlist, comm, PETSC_ERR_USER_INPUT,
                   "%s = '%s': give a list of values or phase=value pairs, not both", dn, text);
        PetscCall(LabelMapAdd(comm, dn, map, v, p ? p : q));
      } else {
        PetscCheck(ParseInteger(tok, &v), comm, PETSC_ERR_USER_INPUT, "%s = '%s': '%s' is not an integer value", dn,
                   text, tok);
        PetscCheck(nlist < 3 && (nlist == map->n), comm, PETSC_ERR_USER_INPUT,
                   "%s = '%s': a list gives the values of nvp, carbon, pore (three values%s)", dn, text,
                   volume ? ", or one: the NVP value" : "");
        PetscCall(LabelMapAdd(comm, dn, map, v, ++nlist));
      }
    }
    PetscCheck(map->n > 0, comm, PETSC_ERR_USER_INPUT, "%s = '%s' maps no value", dn, text);
    PetscCheck(!nlist || nlist == 3 || (volume && nlist == 1), comm, PETSC_ERR_USER_INPUT,
               "%s = '%s': a list gives the values of nvp, carbon, pore (three values%s)", dn, text,
               volume ? ", or one: the NVP value" : "");
    if (volume && nlist == 1) map->rest = 3; /* [V]: V is NVP, anything else is not */
  }
  LabelMapFinish(map);
  PetscFunctionReturn(0);
}

static PetscBool HasSectionPrefix(const char *name)
{
  for (int i = 0; sections[i]; i++)
    if (!strncmp(name, sections[i], strlen(sections[i]))) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Every key in the YAML file must be in the table; in_deck[i] tells whether key i is set there. */
static PetscErrorCode CheckDeckKeys(MPI_Comm comm, const char *path, PetscBool in_deck[])
{
  PetscOptions opts;
  PetscInt     n;
  char       **names, **values;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsCreate(&opts));
  PetscCall(PetscOptionsInsertFileYAML(comm, opts, path, PETSC_TRUE));
  PetscCall(PetscOptionsLeftGet(opts, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    char dn[256];
    DeckName(names[i], dn, sizeof dn);
    long long   v;
    const char *mk = MapEntryKey(names[i], &v);
    PetscCheck(FindKey(names[i]) || mk, comm, PETSC_ERR_USER_INPUT,
               "deck %s: unknown key '%s' (bin/plurigauss -help lists the keys)", path, dn);
    in_deck[KeyIndex(mk ? mk : names[i])] = PETSC_TRUE;
  }
  PetscCall(PetscOptionsLeftRestore(opts, &n, &names, &values));
  PetscCall(PetscOptionsDestroy(&opts));
  PetscFunctionReturn(0);
}

/* Option prefixes that belong to PETSc (and its solvers); any other unknown option is a typo. */
static const char *const petsc_prefixes[] = {"log",
                                             "malloc",
                                             "info",
                                             "options",
                                             "on_error",
                                             "ksp",
                                             "pc",
                                             "mg",
                                             "snes",
                                             "mat",
                                             "vec",
                                             "dm",
                                             "da",
                                             "viewer",
                                             "petsc",
                                             "mpi",
                                             "fp_trap",
                                             "no_signal_handler",
                                             "check_pointer",
                                             "memory",
                                             "objects",
                                             "history",
                                             "start_in_debugger",
                                             "debugger",
                                             "stop_for_debugger",
                                             "display",
                                             "help",
                                             "version",
                                             "use_gpu_aware_mpi",
                                             "device",
                                             "hypre",
                                             "pc_hypre",
                                             "mat_mumps",
                                             "cond_",     /* the conduction solver's own options (conductivity.c) */
                                             "geodesic_", /* the geodesic search's (geodesic.c) */
                                             NULL};

static PetscBool IsPetscOption(const char *name)
{
  for (int i = 0; petsc_prefixes[i]; i++)
    if (!strncmp(name, petsc_prefixes[i], strlen(petsc_prefixes[i]))) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Command-line options must be deck keys or PETSc options. */
static PetscErrorCode CheckCommandLineKeys(MPI_Comm comm)
{
  PetscInt n;
  char   **names, **values;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt i = 0; i < n; i++) {
    char dn[256];
    DeckName(names[i], dn, sizeof dn);
    long long v;
    /* PETSc reads a value that begins with '-' as the next option's name, spaces and all */
    PetscCheck(!strchr(names[i], ' '), comm, PETSC_ERR_USER_INPUT,
               "'-%s' is an option value that begins with '-', which the command line reads as an option: give solver "
               "options directly (-cond_method amg) or in the deck (conductivity.solver_options)",
               names[i]);
    PetscCheck(
      FindKey(names[i]) || MapEntryKey(names[i], &v) || (!HasSectionPrefix(names[i]) && IsPetscOption(names[i])), comm,
      PETSC_ERR_USER_INPUT, "unknown option -%s (deck key '%s'; bin/plurigauss -help lists the keys)", names[i], dn);
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  PetscFunctionReturn(0);
}

static PetscErrorCode ReadDeckText(MPI_Comm comm, const char *path, char **text)
{
  int       rank;
  long long len = -1;
  char     *buf = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *f = fopen(path, "rb");
    if (f) {
      if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
      if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = (char *)malloc((size_t)len + 1);
        if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) len = -1;
      } else len = -1;
      fclose(f);
    }
  }
  PetscCallMPI(MPI_Bcast(&len, 1, MPI_LONG_LONG, 0, comm));
  PetscCheck(len >= 0, comm, PETSC_ERR_USER_INPUT, "deck %s: cannot read the file (%s)", path,
             rank == 0 ? strerror(errno) : "see rank 0");
  if (rank != 0) buf = (char *)malloc((size_t)len + 1);
  PetscCheck(buf, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory reading the deck");
  PetscCallMPI(MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm));
  buf[len] = 0;
  *text    = buf;
  PetscFunctionReturn(0);
}

/* The directory of the output file must exist and be writable, checked before any work. */
static PetscErrorCode CheckOutputPath(MPI_Comm comm, const char *file)
{
  char dir[PETSC_MAX_PATH_LEN];
  int  ok = 1, rank;

  PetscFunctionBeginUser;
  PetscCheck(file[0], comm, PETSC_ERR_USER_INPUT, "output.file is empty");
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  snprintf(dir, sizeof dir, "%s", file);
  char *slash = strrchr(dir, '/');
  if (slash) {
    if (slash == dir) slash[1] = 0;
    else *slash = 0;
  } else snprintf(dir, sizeof dir, ".");
  if (rank == 0) ok = access(dir, W_OK | X_OK) == 0;
  PetscCallMPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  PetscCheck(ok, comm, PETSC_ERR_USER_INPUT, "output.file = %s: directory '%s' does not exist or is not writable", file,
             dir);
  PetscFunctionReturn(0);
}


/* The resolved deck, cfg->resolved: one line appended (printf format), the buffer grown as needed. */
typedef struct {
  size_t len, cap;
} Resolved;

static PetscErrorCode ResolvedAppend(PgConfig *cfg, Resolved *r, const char *fmt, ...)
{
  va_list ap;
  int     need;

  PetscFunctionBeginUser;
  va_start(ap, fmt);
  need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (r->len + (size_t)need + 1 > r->cap) {
    r->cap = 2 * (r->len + (size_t)need + 1);
    PetscCall(PetscRealloc(r->cap, &cfg->resolved));
  }
  va_start(ap, fmt);
  r->len += (size_t)vsnprintf(cfg->resolved + r->len, r->cap - r->len, fmt, ap);
  va_end(ap);
  PetscFunctionReturn(0);
}

/* Every key: its given value or its default, and its line of the resolved deck. */
static PetscErrorCode ReadKeys(MPI_Comm comm, PgDeckValue *val, PgConfig *cfg, Resolved *res)
{
  PetscFunctionBeginUser;
  for (int i = 0, n = NKeys(); i < n; i++) {
    const PgKey *k = KeyAt(i);
    char         opt[160], text[4096], dn[128];
    PetscBool    set;
    snprintf(opt, sizeof opt, "-%s", k->name);
    PetscCall(PetscOptionsGetString(NULL, NULL, opt, text, sizeof text, &set));
    if (set) PetscCall(ParseValue(comm, k, text, &val[i]));
    else if (k->deflt) {
      PetscCall(ParseValue(comm, k, k->deflt, &val[i]));
      val[i].set = PETSC_FALSE; /* defaulted, not given */
    }
    DeckName(k->name, dn, sizeof dn);
    PetscCall(ResolvedAppend(cfg, res, "%s = %s\n", dn, set ? text : (k->deflt ? k->deflt : "(unset)")));
  }
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * What the loaders of the modules read (deck.h)
 * -------------------------------------------------------------------------------------------- */

MPI_Comm PgDeckComm(PgDeck deck) { return deck->comm; }

const PgDeckValue *PgDeckGet(PgDeck deck, const char *key)
{
  const int i = KeyIndex(key);
  if (i < 0) {
    fprintf(stderr, "plurigauss: internal error: a loader reads '%s', which no key table declares\n", key);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return &deck->val[i];
}

PetscBool PgDeckInFile(PgDeck deck, const char *key) { return deck->in_file[PgDeckGet(deck, key) - deck->val]; }

void PgDeckForget(PgDeck deck, const char *key) { deck->val[PgDeckGet(deck, key) - deck->val].set = PETSC_FALSE; }

PetscErrorCode PgDeckAxes(PgDeck deck, const char *key, const char *example, unsigned *mask)
{
  const char *text = PgDeckGet(deck, key)->s;
  char        dn[128];

  PetscFunctionBeginUser;
  DeckName(key, dn, sizeof dn);
  *mask = 0;
  for (const char *c = text; *c; c++) {
    PetscCheck(*c == 'x' || *c == 'y' || *c == 'z', deck->comm, PETSC_ERR_USER_INPUT,
               "%s = '%s': allowed letters x, y, z (e.g. %s)", dn, text, example);
    *mask |= 1u << (*c - 'x');
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgDeckImageInputKeys(PgDeck deck, const char *section, PetscInt vshape[3], double voxel_um[3],
                                    PetscInt ishape[2], double pixel_um[2])
{
  char               name[64];
  const PgDeckValue *vs, *vv, *is, *vp;

  PetscFunctionBeginUser;
#define KEYV(suffix) (snprintf(name, sizeof name, "%s_%s", section, suffix), PgDeckGet(deck, name))
  vs = KEYV("volume_shape");
  vv = KEYV("volume_voxel_um");
  is = KEYV("image_shape");
  vp = KEYV("pixel_um");
#undef KEYV
  PetscCheck(!vv->set || vv->n == 1 || vv->n == 3, deck->comm, PETSC_ERR_USER_INPUT,
             "%s.volume_voxel_um needs 1 or 3 values, got %d", section, vv->n);
  for (int d = 0; d < 3; d++) vshape[d] = vs->set ? (PetscInt)vs->v[d] : 0;
  for (int d = 0; d < 2; d++) ishape[d] = is->set ? (PetscInt)is->v[d] : 0;
  for (int d = 0; d < 3; d++) voxel_um[d] = vv->set ? vv->v[vv->n == 3 ? d : 0] : 0;
  for (int d = 0; d < 2; d++) pixel_um[d] = vp->set ? vp->v[vp->n == 2 ? d : 0] : 0;
  PetscFunctionReturn(0);
}

PetscErrorCode PgDeckLabelMap(PgDeck deck, const char *key, PetscBool volume, PgLabelMap *map)
{
  PetscFunctionBeginUser;
  PetscCall(LabelMapFromOptions(deck->comm, key, PgDeckGet(deck, key)->s, volume, map));
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------------------------------------
 * Loading: the modules' loaders, then what involves the keys of several modules
 * -------------------------------------------------------------------------------------------- */

/* The label maps in force: calibration.volume_labels defaults to input.labels if that is given,
 * else 1 = NVP; the 2D images take input.labels. The resolved deck shows them. */
static PetscErrorCode ResolveLabelMaps(PgConfig *cfg, Resolved *res)
{
  PgLabelMap *vl = &cfg->cal.volume_labels;

  PetscFunctionBeginUser;
  if (!vl->given) {
    if (cfg->input.labels.given) *vl = cfg->input.labels;
    else {
      vl->n        = 1;
      vl->value[0] = 1;
      vl->phase[0] = 1;
      vl->rest     = 3;
      snprintf(vl->text, sizeof vl->text, "1:nvp,other:not nvp");
    }
  }
  cfg->cal.images_labels = cfg->input.labels;
  PetscCall(ResolvedAppend(cfg, res, "input.labels (in force) = %s\ncalibration.volume_labels (in force) = %s\n",
                           cfg->input.labels.text, vl->text));
  PetscFunctionReturn(0);
}

/* Checks that involve the keys of several modules, and defaults that follow from another module's. */
static PetscErrorCode CheckAcross(MPI_Comm comm, PgConfig *cfg)
{
  PetscFunctionBeginUser;
  PetscCheck(!(cfg->fft.low_memory && cfg->output.write_fields), comm, PETSC_ERR_USER_INPUT,
             "output.write_fields needs fft.memory = fast: with low, X and Y are never in memory together");
  if (cfg->measure.psd_step_um > 0 && !cfg->input.image[0]) {
    const double vmin = PetscMin(PetscMin(cfg->domain.voxel_um[0], cfg->domain.voxel_um[1]), cfg->domain.voxel_um[2]);
    PetscCheck(
      cfg->measure.psd_step_um >= vmin / 16, comm, PETSC_ERR_USER_INPUT,
      "measure.psd_step_um = %g um is below 1/16 of the smallest voxel edge (%g um): finer radii do not change a digital opening",
      cfg->measure.psd_step_um, vmin);
  }
  if (!cfg->seg.labels_file[0])
    PgFileSideCar(cfg->output.file, "_labels.h5", cfg->seg.labels_file, sizeof cfg->seg.labels_file);
  PetscCheck(
    !cfg->cal.validate_with[0] || cfg->cal.volume[0] || cfg->seg.volume[0], comm, PETSC_ERR_USER_INPUT,
    "calibration.validate_with = %s needs a calibration (calibration.volume and calibration.images, or segment.*)",
    cfg->cal.validate_with);
  PetscCheck(!(cfg->cal.volume[0] && cfg->input.image[0]), comm, PETSC_ERR_USER_INPUT,
             "calibration.volume and input.image are both given: calibrate and simulate, or measure an image");
  /* the grid must resolve the correlation length: rho(1 voxel) = exp(-(alpha dx)^2) */
  for (int d = 0; d < 3 && !cfg->input.image[0] && !cfg->cal.volume[0]; d++) {
    double ad = PetscMax(cfg->model.alpha_x_per_um, cfg->model.alpha_y_per_um) * cfg->domain.voxel_um[d];
    PetscCheck(
      ad <= 1.0, comm, PETSC_ERR_USER_INPUT,
      "domain.voxel_size_um = %g is large against 1/alpha = %g um (alpha*voxel = %.3g, allowed <= 1): the fields would not be resolved",
      cfg->domain.voxel_um[d], 1.0 / PetscMax(cfg->model.alpha_x_per_um, cfg->model.alpha_y_per_um), ad);
  }
  PetscFunctionReturn(0);
}

/* Every module's options from the deck's values, in the order of the tables. */
static PetscErrorCode LoadModules(PgDeck deck, PgConfig *cfg)
{
  PetscFunctionBeginUser;
  PetscCall(PgModelLoadOptions(deck, &cfg->domain, &cfg->model, &cfg->sweep));
  PetscCall(PgOutputLoadOptions(deck, &cfg->output));
  PetscCall(PgInputLoadOptions(deck, &cfg->input));
  PetscCall(PgMeasureLoadOptions(deck, &cfg->measure));
  PetscCall(PgConductivityLoadOptions(deck, &cfg->cond));
  PetscCall(PgFFTLoadOptions(deck, &cfg->fft));
  PetscCall(PgSegmentLoadOptions(deck, &cfg->seg));
  PetscCall(PgCalibrationLoadOptions(deck, &cfg->cal));
  PetscCall(PgRunLoadOptions(deck, &cfg->run));
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigLoad(MPI_Comm comm, const char *deck_path, PgConfig *cfg)
{
  struct PgDeck_private deck = {comm, NULL, NULL};
  Resolved              res  = {0, 8192};
  PetscErrorCode        ierr;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(cfg, sizeof *cfg));
  PetscCall(PetscCalloc2(NKeys(), &deck.val, NKeys(), &deck.in_file));
  if (deck_path && deck_path[0]) {
    snprintf(cfg->deck_path, sizeof cfg->deck_path, "%s", deck_path);
    PetscCall(ReadDeckText(comm, deck_path, &cfg->deck_text));
    PetscCall(CheckDeckKeys(comm, deck_path, deck.in_file));
  } else {
    cfg->deck_text = strdup("");
  }
  PetscCall(PetscMalloc1(res.cap, &cfg->resolved));
  cfg->resolved[0] = 0;
  ierr             = ReadKeys(comm, deck.val, cfg, &res);
  if (!ierr) ierr = LoadModules(&deck, cfg);
  if (!ierr) ierr = ResolveLabelMaps(cfg, &res);
  if (!ierr) ierr = CheckCommandLineKeys(comm);
  if (!ierr) ierr = CheckAcross(comm, cfg);
  if (!ierr) ierr = CheckOutputPath(comm, cfg->output.file);
  PetscCall(PetscFree2(deck.val, deck.in_file));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigDestroy(PgConfig *cfg)
{
  PetscFunctionBeginUser;
  free(cfg->deck_text);
  cfg->deck_text = NULL;
  PetscCall(PetscFree(cfg->resolved));
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigPrintHelp(MPI_Comm comm)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm,
                        "plurigauss: Pluri-Gaussian NVP/carbon/pore structures (Neumann et al.)\n\n"
                        "usage: mpirun -np P bin/plurigauss [DECK.yaml] [-section_key value ...] [PETSc options]\n\n"
                        "The deck is YAML; nested keys become -section_key and can be overridden on the command line.\n"
                        "Lists are written [a, b, c] in YAML and a,b,c on the command line.\n\n"));
  PetscCall(PetscPrintf(comm, "%-30s %-16s %-8s %-22s %s\n", "key", "default", "unit", "allowed", "meaning"));
  for (int i = 0, n = NKeys(); i < n; i++) {
    const PgKey *k = KeyAt(i);
    char         dn[128], range[128];
    DeckName(k->name, dn, sizeof dn);
    RangeText(k, range, sizeof range);
    PetscCall(PetscPrintf(comm, "%-30s %-16s %-8s %-22s %s\n", dn,
                          k->deflt ? (k->deflt[0] ? k->deflt : "\"\"") : "(unset)", k->unit, range, k->help));
  }
  PetscCall(PetscPrintf(
    comm,
    "\nExactly one of model.nvp_fraction / model.lambda_x and of model.carbon_fraction / model.lambda_z\n"
    "is used; a given threshold replaces the fraction. PETSc options (-log_view, -options_left) pass through.\n"
    "With calibration.volume and calibration.images, the calibrated parameters replace model.alpha_x, alpha_y,\n"
    "m (unless calibration.fix_m), nvp_fraction and carbon_fraction (unless a sweep or model.lambda_z is given).\n"
    "Tuning without a deck key: -cond_* (the conduction solver, docs/solver.md), -geodesic_band STEPS (32; the\n"
    "distance the tortuosity search settles per exchange round, 0 = all at once; results do not depend on it).\n"));
  PetscFunctionReturn(0);
}

/* One cell of a Markdown table: '|' and '\\' escaped always, '<' always (it would open an HTML tag),
   '*' and '_' where they could open or close emphasis (not between two letters or two spaces). */
static PetscErrorCode MarkdownCell(const char *in, char *out, size_t len)
{
  size_t o = 0;

  PetscFunctionBeginUser;
  for (size_t i = 0; in[i]; i++) {
    const char c = in[i], prev = i ? in[i - 1] : ' ', next = in[i + 1] ? in[i + 1] : ' ';
    int        esc = c == '|' || c == '\\' || c == '<' || c == '`';
    PetscCheck(o + 3 < len, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "Markdown cell buffer too small for '%s'", in);
    if (c == '_') esc = !(isalnum((unsigned char)prev) && isalnum((unsigned char)next));
    if (c == '*') esc = !(prev == ' ' && next == ' ');
    if (esc) out[o++] = '\\';
    out[o++] = c;
  }
  out[o] = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigPrintHelpMarkdown(MPI_Comm comm)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(comm, "| key | default | unit | allowed | meaning |\n|---|---|---|---|---|\n"));
  for (int i = 0, n = NKeys(); i < n; i++) {
    const PgKey *k = KeyAt(i);
    char         dn[128], range[128], mrange[256], help[1024];
    const char  *d = k->deflt;
    DeckName(k->name, dn, sizeof dn);
    RangeText(k, range, sizeof range);
    PetscCall(MarkdownCell(range, mrange, sizeof mrange));
    PetscCall(MarkdownCell(k->help, help, sizeof help));
    if (!d) PetscCall(PetscPrintf(comm, "| `%s` | unset | %s | %s | %s |\n", dn, k->unit, mrange, help));
    else PetscCall(PetscPrintf(comm, "| `%s` | `%s` | %s | %s | %s |\n", dn, d[0] ? d : "\"\"", k->unit, mrange, help));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PgConfigSignature(const PgConfig *cfg, const PgDomain *dom, const PgModelParams *mp, char *buf,
                                 size_t len)
{
  size_t o = 0;

  PetscFunctionBeginUser;
  o += (size_t)snprintf(buf + o, len - o, "shape=%d,%d,%d voxel=%.17g,%.17g,%.17g ax=%.17g ay=%.17g m=%.17g",
                        (int)dom->shape[0], (int)dom->shape[1], (int)dom->shape[2], dom->voxel_um[0], dom->voxel_um[1],
                        dom->voxel_um[2], mp->alpha_x_per_um, mp->alpha_y_per_um, mp->m);
  if (mp->have_lambda_x) o += (size_t)snprintf(buf + o, len - o, " lx=%.17g", mp->lambda_x);
  else o += (size_t)snprintf(buf + o, len - o, " eps1=%.17g", mp->nvp_fraction);
  if (mp->have_lambda_z) o += (size_t)snprintf(buf + o, len - o, " lz=%.17g", mp->lambda_z);
  else
    for (int i = 0; i < mp->npoints && o < len; i++)
      o += (size_t)snprintf(buf + o, len - o, "%s%.17g", i ? "," : " eps2=", mp->carbon_fraction[i]);
  if (cfg->input.image[0] && o < len) o += (size_t)snprintf(buf + o, len - o, " image=%s", cfg->input.image);
  if ((cfg->input.labels.given || cfg->cal.volume_labels.given) && o < len)
    o += (size_t)snprintf(buf + o, len - o, " labels=%s|%s", cfg->input.labels.text, cfg->cal.volume_labels.text);
  if (mp->calibrated_from[0] && o < len) o += (size_t)snprintf(buf + o, len - o, " calibrated=%s", mp->calibrated_from);
  if (o < len)
    o += (size_t)snprintf(buf + o, len - o, " R=%d seed=%llu crn=%d prec=%d", (int)cfg->sweep.realizations,
                          (unsigned long long)cfg->sweep.seed, (int)cfg->sweep.common_random_numbers,
                          (int)cfg->output.precision);
  if (cfg->sweep.first_point && o < len) o += (size_t)snprintf(buf + o, len - o, " p0=%d", (int)cfg->sweep.first_point);
  PetscCheck(o < len, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "signature buffer too small");
  PetscFunctionReturn(0);
}

void PgModelParamsOrigin(const PgModelParams *mp, char *buf, size_t len)
{
  static const char *const name[PG_NPARAMS] = {"lambda_x", "lambda_z", "alpha_x", "alpha_y", "m"};
  size_t                   o                = 0;

  buf[0] = 0;
  for (int i = 0; i < PG_NPARAMS && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s: %s", i ? ", " : "", name[i],
                          mp->origin[i] == PG_FROM_CALIBRATION ? "calibration" : "deck");
}
