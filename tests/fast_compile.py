"""The XLA flags of the tests and of the launch.py processes they start: compiling fast, not
running fast, as the tests' tiny models spend their time compiling. LLVM's optimizations are
off, and so are XLA's CPU fusion emitters: on a tiny train step their code generation took two
thirds of the compile, which is then about three times faster.

A test that holds two programs computing the same values equal bit for bit (a step with
scheduled sampling at probability 0 and the teacher-forced step, say) jits them with
`USERS_FUSION`: with the older emitters such a pair differed in the last bit, and the property
is the one users' runs have.

Imports nothing: tests/conftest.py sets XLA_FLAGS from it before JAX is imported."""

XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
# jax.jit(..., compiler_options=USERS_FUSION): XLA's CPU fusion emitters, as users compile.
USERS_FUSION = {"xla_cpu_use_fusion_emitters": True}
# The launch.py runs of tests/test_learning.py, which spend their time training: LLVM's first
# optimization level and the older emitters set up and compiled a tiny attention model in
# about half the time XLA's defaults took (training 6.5 against 14 s, eval 4 against 8 s),
# and ran its steps almost as fast (29-30 against 32-33 steps/s; level 0: 8).
TRAINING_XLA_FLAGS = "--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false"
