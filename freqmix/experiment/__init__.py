"""The experiment layer under the ``freqmix`` command line: the run configuration (:mod:`.config`), its task
(:mod:`.task`), the assembly of env and agent (:mod:`.assembly`), the driver loop (:mod:`.loop`), one run
(:mod:`.run`), its report (:mod:`.reporting`) and its launch in one or several processes (:mod:`.launch`), with the
run folder's files (checkpoint, step log, scalars) beside them. It imports no command-line module."""
