/// \file
/// The keys of the deck, declared by the modules that own them. Each module lists its keys in a
/// PgKey table (name, type, default, unit, range, help) and reads their values into its own options
/// struct in a loader (PgXxxLoadOptions in config.h); config.c runs the tables in order: it parses
/// every value once (errors name the key), checks that every key of the YAML file and every deck
/// option of the command line is known, prints `-help` from the tables, and hands each loader a
/// PgDeck to read from.
#pragma once

#include <petscsys.h>

#define PG_MAX_VALUES       1024 /* values of one key (a sweep's carbon fractions) */
#define PG_MAX_LABEL_VALUES 64

typedef enum { PG_KEY_INT, PG_KEY_REAL, PG_KEY_BOOL, PG_KEY_STRING, PG_KEY_ENUM } PgKeyType;

/// One deck key. Its name is the option without the leading dash, SECTION_KEY (deck: section.key).
typedef struct {
  const char        *name;
  PgKeyType          type;
  int                nmin, nmax; /* number of values for arrays; 1, 1 for scalars */
  const char        *deflt;      /* default as text; NULL = unset */
  const char        *unit;
  double             lo, hi; /* allowed range for numbers */
  int                lo_open, hi_open;
  const char *const *names; /* enum names, NULL-terminated */
  const char        *help;
} PgKey;

/// The value of a key as read: numbers in v (enums: the index of the name, booleans 0/1), text in s.
typedef struct {
  PetscBool set; /* given in the deck or on the command line (else the default, if any) */
  int       n;   /* number of values */
  double    v[PG_MAX_VALUES];
  char      s[PETSC_MAX_PATH_LEN];
} PgDeckValue;

/// How the integer values of a label input become phases (deck keys input.labels and
/// calibration.volume_labels): value[i] -> phase[i] (1 NVP, 2 carbon, 3 pore), any other value ->
/// rest (0: an input error naming the value and its position).
typedef struct {
  int       n;
  long long value[PG_MAX_LABEL_VALUES];
  int       phase[PG_MAX_LABEL_VALUES];
  int       rest;
  PetscBool given;     /* set in the deck (else the default: 1, 2, 3; the stack: 1 = NVP, rest not) */
  char      text[256]; /* e.g. "0:pore,1:nvp,2:carbon", for messages and the resolved deck */
} PgLabelMap;

/// The values of every key, as a loader sees them (read only but for PgDeckForget).
typedef struct PgDeck_private *PgDeck;

/// The communicator the deck is read on: loaders raise their input errors on it.
MPI_Comm PgDeckComm(PgDeck deck);
/// The value of key (a name of a table; an unknown name is a programming error and aborts).
const PgDeckValue *PgDeckGet(PgDeck deck, const char *key);
/// Whether key is set in the YAML file itself (not only on the command line).
PetscBool PgDeckInFile(PgDeck deck, const char *key);
/// Treats key as not given: the command line gave its alternative (a threshold for a fraction).
void PgDeckForget(PgDeck deck, const char *key);
/// An axes key ("xyz", "z", ...) as a bit mask (bit 0 = x); other letters are an input error.
PetscErrorCode PgDeckAxes(PgDeck deck, const char *key, const char *example, unsigned *mask);
/// The image input keys of a section (calibration, segment): SECTION_volume_shape,
/// SECTION_volume_voxel_um (1 or 3 values), SECTION_image_shape, SECTION_pixel_um (1 or 2); 0 = not given.
PetscErrorCode PgDeckImageInputKeys(PgDeck deck, const char *section, PetscInt vshape[3], double voxel_um[3],
                                    PetscInt ishape[2], double pixel_um[2]);
/// A label map key: its text (a list [nvp, carbon, pore] of values, or phase=value / value:phase
/// pairs) or its YAML map entries KEY_VALUE: phase. volume: the calibration stack, whose list may
/// also be one value (the NVP value, everything else not NVP). Not given: map->given is false.
PetscErrorCode PgDeckLabelMap(PgDeck deck, const char *key, PetscBool volume, PgLabelMap *map);
