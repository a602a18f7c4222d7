# plurigauss — build with mpicc.
#
#   make            build bin/plurigauss
#   make run        set up (Debian: install packages), build, run inputs/nvp_paper.yaml on 2 ranks
#   make check      set up, build, run the test suite (tests/run_tests.py); LONG=1 adds the
#                   tests marked long (minutes each, listed as SKIP without it)
#   make tests      build the C test drivers tests/c/test_*.c into bin/
#   make bench      benchmarks (not part of check)
#   make commcount  bin/libcommcount.so, the PMPI byte counter of benchmarks/commcount.c
#                   (mpirun -x LD_PRELOAD=$PWD/bin/libcommcount.so -x PG_COMMCOUNT_OUT=comm.csv ...)
#   make segment-example
#                   grey images -> labels -> parameters -> validated realizations -> figures:
#                   renders data of known structure, runs inputs/segment_example.yaml, plots it
#   make format     the C sources in the style of .clang-format (format-check: CI's check)
#   make keytable   README.md's deck-key table regenerated from the program (tools/keytable.py)
#   make figures OUT=out/nvp_carbon_sweep.h5 [FIGDIR=dir]
#                   the paper's Figures 3-6 from a finished output (postprocess/make_figures.py)
#   make V=1        show the commands
#   make check SAN=1
#                   AddressSanitizer + UndefinedBehaviorSanitizer build in build-san/, bin-san/ (the
#                   normal build is untouched) and the sanitizer subset of the tests against it
#                   (tests/san_subset.txt; docs/safety.md)
#
# Libraries are found with pkg-config on Debian. On a cluster, load modules and set any of
#   PETSC_DIR [PETSC_ARCH]   FFTW_DIR   HDF5_DIR   GSL_DIR   R123_DIR   TIFF_DIR
# (each a prefix with include/ and lib/); they take precedence over pkg-config.

MPICC    ?= mpicc
PYTHON   ?= /usr/bin/python3
NP       ?= 2
DECK     ?= inputs/nvp_paper.yaml
OPTFLAGS ?= -O3 -march=native
WERROR   ?= $(if $(CI),-Werror,)

# --- libraries -------------------------------------------------------------------------------
ifneq ($(PETSC_DIR),)
  PETSC_CFLAGS := -I$(PETSC_DIR)/include $(if $(PETSC_ARCH),-I$(PETSC_DIR)/$(PETSC_ARCH)/include)
  PETSC_LIBS   := -L$(PETSC_DIR)/$(PETSC_ARCH)/lib -Wl,-rpath,$(PETSC_DIR)/$(PETSC_ARCH)/lib -lpetsc
else
  PETSC_CFLAGS := $(shell pkg-config --cflags petsc 2>/dev/null)
  PETSC_LIBS   := $(shell pkg-config --libs petsc 2>/dev/null)
endif
ifneq ($(HDF5_DIR),)
  HDF5_CFLAGS := -I$(HDF5_DIR)/include
  HDF5_LIBS   := -L$(HDF5_DIR)/lib -Wl,-rpath,$(HDF5_DIR)/lib -lhdf5
else
  HDF5_CFLAGS := $(shell pkg-config --cflags hdf5-openmpi 2>/dev/null)
  HDF5_LIBS   := $(shell pkg-config --libs hdf5-openmpi 2>/dev/null)
endif
FFTW_LIBNAMES := -lfftw3f_mpi -lfftw3_mpi -lfftw3f_threads -lfftw3_threads -lfftw3f -lfftw3
ifneq ($(FFTW_DIR),)
  FFTW_CFLAGS := -I$(FFTW_DIR)/include
  FFTW_LIBS   := -L$(FFTW_DIR)/lib -Wl,-rpath,$(FFTW_DIR)/lib $(FFTW_LIBNAMES)
else
  FFTW_CFLAGS := $(shell pkg-config --cflags fftw3 2>/dev/null)
  FFTW_LIBS   := $(FFTW_LIBNAMES)
endif
ifneq ($(GSL_DIR),)
  GSL_CFLAGS := -I$(GSL_DIR)/include
  GSL_LIBS   := -L$(GSL_DIR)/lib -Wl,-rpath,$(GSL_DIR)/lib -lgsl -lgslcblas
else
  GSL_CFLAGS := $(shell pkg-config --cflags gsl 2>/dev/null)
  GSL_LIBS   := $(shell pkg-config --libs gsl 2>/dev/null)
endif
R123_CFLAGS := $(if $(R123_DIR),-I$(R123_DIR)/include,)
ifneq ($(TIFF_DIR),)
  TIFF_CFLAGS := -I$(TIFF_DIR)/include
  TIFF_LIBS   := -L$(TIFF_DIR)/lib -Wl,-rpath,$(TIFF_DIR)/lib -ltiff
else
  TIFF_CFLAGS := $(shell pkg-config --cflags libtiff-4 2>/dev/null)
  TIFF_LIBS   := $(shell pkg-config --libs libtiff-4 2>/dev/null)
endif

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer, in their own build directories
SAN      ?=
, := ,
BUILD    := $(if $(SAN),build-san,build)
BIN      := $(if $(SAN),bin-san,bin)
SANFLAGS := $(if $(SAN),-fsanitize=address$(,)undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined,)
ifneq ($(SAN),)
  # -O1 for readable reports; the instrumentation makes GCC's flow warnings (maybe-uninitialized,
  # format-truncation) guess wrong, so the CI's -Werror applies to the normal build only
  OPTFLAGS := -O1
  WERROR   :=
endif

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CFLAGS  ?= $(OPTFLAGS) -g
CFLAGS  += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
CFLAGS  += -std=c11 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-parameter $(WERROR) -Iinclude \
           $(PETSC_CFLAGS) $(HDF5_CFLAGS) $(FFTW_CFLAGS) $(GSL_CFLAGS) $(R123_CFLAGS) $(TIFF_CFLAGS)
DEFS    := -DPG_VERSION='"$(VERSION)"' -DPG_BUILD='"$(MPICC) $(OPTFLAGS)$(if $(SAN), $(SANFLAGS),)"'
LDLIBS  := $(PETSC_LIBS) $(HDF5_LIBS) $(FFTW_LIBS) $(GSL_LIBS) $(TIFF_LIBS) -fopenmp -lm

SRC  := $(wildcard src/*.c)
OBJ  := $(SRC:src/%.c=$(BUILD)/%.o)
DEP  := $(OBJ:.o=.d)

Q = $(if $(V),,@)
.DELETE_ON_ERROR:
.PHONY: format-check all run check bench setup clean format figures segment-example keytable

all: $(BIN)/plurigauss

$(BIN)/plurigauss: $(OBJ) | $(BIN)
	@$(if $(V),,echo "  LD   $@")
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	@$(if $(V),,echo "  CC   $<")
	$(Q)$(MPICC) $(CFLAGS) $(DEFS) -MMD -MP -c $< -o $@

# only the noise generator: lets GCC vectorise log/sin/cos through libmvec (see src/noise.c)
$(BUILD)/noise.o: CFLAGS += -ffast-math

build bin build-san bin-san:
	$(Q)mkdir -p $@

-include $(DEP)

# C test drivers: tests/c/test_NAME.c -> bin/test_NAME, linked with every module but main.
TEST_BIN := $(patsubst tests/c/%.c,$(BIN)/%,$(wildcard tests/c/test_*.c))
LIB_OBJ  := $(filter-out $(BUILD)/main.o,$(OBJ))
.PHONY: tests commcount
tests: $(TEST_BIN) bin/libcommcount.so

# the PMPI profiling library (benchmarks/commcount.c), loaded with LD_PRELOAD into the ranks
commcount: bin/libcommcount.so
bin/libcommcount.so: benchmarks/commcount.c | bin
	@$(if $(V),,echo "  LD   $@")
	$(Q)$(MPICC) -std=c11 -O2 -g -fPIC -shared -Wall -Wextra $(WERROR) -o $@ $<

$(BIN)/test_%: tests/c/test_%.c $(LIB_OBJ) | $(BIN) $(BUILD)
	@$(if $(V),,echo "  CCLD $@")
	$(Q)$(MPICC) $(CFLAGS) $(DEFS) $(LDFLAGS) -MMD -MP -MF $(BUILD)/test_$*.d -o $@ $< $(LIB_OBJ) $(LDLIBS)

-include $(TEST_BIN:$(BIN)/%=$(BUILD)/%.d)

# Installs the Debian packages that are missing (no-op when all are present).
setup:
	$(Q)tools/setup.sh

export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1

run: setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)mkdir -p out
	mpirun --oversubscribe -np $(NP) bin/plurigauss $(DECK)

# With SAN=1: the sanitizer subset (tests/san_subset.txt) against bin-san/; any ASan or UBSan
# report fails its test (tests/san.supp, ASAN_OPTIONS and UBSAN_OPTIONS: docs/safety.md).
SAN_ENV = PLURIGAUSS_BIN=$(CURDIR)/bin-san/plurigauss PLURIGAUSS_SAN=1 \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=86:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87:suppressions=$(CURDIR)/tests/san.supp
# With LONG=1: the tests marked long too (minutes each; listed as SKIP otherwise).
LONG_ENV = $(if $(LONG),PLURIGAUSS_LONG=1)
check: setup
	$(Q)$(MAKE) --no-print-directory all tests
	$(if $(SAN),$(SAN_ENV) $(LONG_ENV) $(PYTHON) tests/run_tests.py $$(grep -v '^#' tests/san_subset.txt),$(LONG_ENV) $(PYTHON) tests/run_tests.py)

bin/bench_fft: benchmarks/bench_fft.c | bin
	$(Q)$(MPICC) $(OPTFLAGS) $(FFTW_CFLAGS) -o $@ $< $(FFTW_LIBS) -lm

bench: all bin/bench_fft
	sh benchmarks/bench_fft.sh
	$(PYTHON) benchmarks/bench_generate.py

segment-example: setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)mkdir -p out
	$(PYTHON) tools/make_calibration_data.py out/calibration_data.h5 --grey
	mpirun --oversubscribe -np $(NP) bin/plurigauss inputs/segment_example.yaml
	$(PYTHON) postprocess/make_figures.py out/segment_example.h5 --outdir out/segment_example_figures
	$(PYTHON) postprocess/plot_segmentation.py out/segment_example_labels.h5 --truth out/calibration_data.h5 --out out/segment_example_figures/fig2_segmentation.png

OUT    ?= out/nvp_carbon_sweep.h5
FIGDIR ?= $(dir $(OUT))figures
figures:
	$(PYTHON) postprocess/make_figures.py $(OUT) --outdir $(FIGDIR)

# The C sources in the style of .clang-format; format-check (CI) fails if it would change a file.
FORMAT_FILES = $(wildcard src/*.c src/*.h include/plurigauss/*.h tests/c/*.c benchmarks/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# README.md's deck-key table from the program's key table (bin/plurigauss -help_markdown)
keytable: all
	$(PYTHON) tools/keytable.py

clean:
	rm -rf build bin build-san bin-san
