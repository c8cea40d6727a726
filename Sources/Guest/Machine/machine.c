// MachineFacts is its header, include/machine.h; a C target needs a source.
