# gdb helpers for the guest kernel: Swift names for breakpoints, listings,
# variables and backtraces, and the memory manager's state read from guest
# memory through the stub (never by asking the kernel, which may be stopped
# anywhere). Load them with
#
#     gdb -x scripts/gdb/kvmhost.py ...      (kvmhost gdb PORT does it for you)
#
# and type `help swift` or `help kernel`. They work against kvmhost's stub
# (kvm) and QEMU's (tcg).
#
# Embedded Swift names its symbols with mangled names ($e11GuestKernel7Pagemap
# V9translate...), which gdb shows and expects as they are. Here every name
# the kernel's debug information knows (its .symtab and .debug_str) is
# demangled once, with swift-demangle from the toolchain, and looked up by the
# Swift name a reader sees in the source: Pagemap.translate,
# FrameAllocator.allocate, CurrentProcess.space.

import os
import re
import shutil
import struct
import subprocess

import gdb

# The stub has four hardware breakpoints (DR0-DR3), counted by address.
HARDWARE_BREAKPOINTS = 4


class HelperError(Exception):
    """A refusal with its reason, printed as gdb prints a command's error."""


# ---------------------------------------------------------------------------
# The kernel image: names from .symtab and .debug_str, demangled once.

class SwiftName:
    """One mangled name: what it demangles to and where its own code is."""

    def __init__(self, mangled, full, simple, kind, address, size):
        self.mangled = mangled
        self.full = full          # "Pagemap.translate(VirtualAddress) -> Translation?"
        self.simple = simple      # "Pagemap.translate"
        self.kind = kind          # "function" or "variable"
        self.address = address    # the out-of-line copy (functions), or None
        self.size = size


def _elf_sections(data):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise HelperError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    entsize, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    if shoff + count * entsize > len(data) or names_index >= count:
        raise HelperError("its section headers lie outside the file")
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    names_offset = headers[names_index][4]
    sections = {}
    for header in headers:
        start = names_offset + header[0]
        name = data[start:data.index(b"\0", start)].decode("ascii", "replace")
        if header[1] != 8:  # SHT_NOBITS has no bytes in the file
            sections[name] = (header[4], header[5], header[6], header[9])  # offset, size, link, entsize
    return sections, headers


def _symbols(data, sections, headers):
    """(name, address, size, is_function) for every named function and object symbol."""
    if ".symtab" not in sections:
        return []
    offset, size, link, entsize = sections[".symtab"]
    strings = headers[link][4]
    found = []
    for at in range(offset, offset + size - entsize + 1, entsize or 24):
        name_offset, info, _, _, value, length = struct.unpack_from("<IBBHQQ", data, at)
        kind = info & 0xF
        if name_offset == 0 or kind not in (1, 2):  # STT_OBJECT, STT_FUNC
            continue
        start = strings + name_offset
        name = data[start:data.index(b"\0", start)].decode("ascii", "replace")
        found.append((name, value, length, kind == 2))
    return found


def _demangler():
    named = os.environ.get("KVMHOST_SWIFT_DEMANGLE")
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise HelperError("KVMHOST_SWIFT_DEMANGLE=%s names no executable file" % named)
        return named
    swiftc = shutil.which("swiftc")
    if swiftc:
        beside = os.path.join(os.path.dirname(os.path.realpath(swiftc)), "swift-demangle")
        if os.access(beside, os.X_OK):
            return beside
    found = shutil.which("swift-demangle")
    if found:
        return found
    raise HelperError("swift-demangle is neither beside swiftc nor on PATH (or set KVMHOST_SWIFT_DEMANGLE)")


def _demangle(tool, names, simplified):
    """One demangled line per name, or a refusal: a demangler that hangs is
    killed with its children after 10 s (a kernel's names take under a
    second), one that prints another number of lines than it was given
    names is not believed."""
    arguments = [tool, "--compact"] + (["--simplified"] if simplified else [])
    try:
        process = subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except OSError as error:
        raise HelperError("cannot run %s: %s" % (tool, error.strerror))
    try:
        output, errors = process.communicate(("\n".join(names) + "\n").encode(), timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        raise HelperError("%s did not answer within 10 s (killed)" % tool)
    lines = output.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if process.returncode != 0:
        raise HelperError("%s failed (status %d): %s" % (tool, process.returncode, errors.decode("utf-8", "replace").strip()[:200]))
    if len(lines) != len(names):
        raise HelperError("%s printed %d lines for %d names: not believed" % (tool, len(lines), len(names)))
    return lines


# The dotted name at the head of a demangled function or variable, before
# its parameters or its type: "Pagemap.translate(" or "CurrentProcess.space : ".
_HEAD = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)(\(| : )")
_MODULES = re.compile(r"\b(GuestKernel|Swift|__C)\.")
# A private name: "(pageFault in _BC1D7C1C5A3474FA483C32EFD8112A15)".
_PRIVATE = re.compile(r"\((\w+) in _[0-9A-F]+\)")


def _readable(text):
    return _PRIVATE.sub(r"\1", _MODULES.sub("", text))


def _origin(text):
    """A specialized copy's demangled text, as its origin's."""
    while "specialization <" in text.split(" of ")[0]:
        end = text.find("> of ")
        if end < 0:
            break
        text = text[end + len("> of "):]
    for prefix in ("merged ", "static "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


class KernelImage:
    def __init__(self, path):
        with open(path, "rb") as file:
            data = file.read()
        sections, headers = _elf_sections(data)
        symbols = _symbols(data, sections, headers)
        own = {name: (address, size) for name, address, size, function in symbols if function and size > 0}
        mangled = set(name for name, _, _, _ in symbols if name.startswith("$e"))
        if ".debug_str" in sections:
            offset, size, _, _ = sections[".debug_str"]
            for part in data[offset:offset + size].split(b"\0"):
                if part.startswith(b"$e"):
                    mangled.add(part.decode("ascii", "replace"))
        mangled = sorted(mangled)
        if not mangled:
            raise HelperError("%s has no Swift names (is it guest.elf, built with -g?)" % path)
        tool = _demangler()
        full = _demangle(tool, mangled, simplified=False)
        self.path = path
        self.names = []
        self.by_mangled = {}
        self.texts = {}
        for name, text in zip(mangled, full):
            plain = _origin(_readable(text))
            self.texts[name] = _readable(text)
            head = _HEAD.match(plain)
            if not head:
                continue  # metadata, descriptors, tokens, closures, thunks
            variable = name.endswith("vp") or name.endswith("vpZ")
            address, size = own.get(name, (None, 0))
            entry = SwiftName(name, plain, head.group(1), "variable" if variable else "function", address, size)
            self.names.append(entry)
            self.by_mangled[name] = entry
        self.functions_by_address = sorted((address, address + size, name) for name, (address, size) in own.items())
        # A lazily initialized global's one-time token (name_Wz): 0 until its initializer runs.
        self.tokens = sorted(((name[:-3], address) for name, address, _, _ in symbols if name.endswith("_Wz")),
                             key=lambda token: -len(token[0]))
        # Zero-filled sections: a variable there with a token is set by its initializer at run time
        # (one in .data was set by the compiler, and its token is never used).
        self.zero_filled = [(header[3], header[3] + header[5]) for header in headers if header[1] == 8 and header[2] & 2]
        self.objects = dict((name, address) for name, address, _, function in symbols if not function)

    def token(self, mangled):
        """The address of the once token of the variable `mangled`, if its
        value is set at run time by a one-time initializer."""
        address = self.objects.get(mangled)
        if address is None or not any(start <= address < end for start, end in self.zero_filled):
            return None
        for prefix, address in self.tokens:
            if mangled.startswith(prefix):
                return address
        return None

    def find(self, query, kind):
        """Groups of names (one per origin) that `query` names."""
        query = query.strip()
        if query.startswith("GuestKernel."):
            query = query[len("GuestKernel."):]
        if not query:
            raise HelperError("name a Swift %s, as %s" % (kind, "Pagemap.translate" if kind == "function" else "PhysicalMemory.frames"))
        matches = []
        for entry in self.names:
            if entry.kind != kind:
                continue
            if "(" in query:
                hit = entry.full.startswith(query) or ("." + query) in entry.full
            else:
                hit = entry.simple == query or entry.simple.endswith("." + query)
            if hit:
                matches.append(entry)
        groups = {}
        for entry in matches:
            groups.setdefault(entry.full, []).append(entry)
        return groups

    def one(self, query, kind):
        groups = self.find(query, kind)
        if not groups:
            last = query.strip().split("(")[0].split(".")[-1]
            near = sorted(set(e.full for e in self.names if e.kind == kind and last and last in e.simple))[:10]
            hint = ("; names with '%s': %s" % (last, "; ".join(near))) if near else ""
            raise HelperError("no Swift %s named %s in %s%s" % (kind, query.strip(), os.path.basename(self.path), hint))
        if len(groups) > 1:
            listed = "\n  ".join(sorted(groups))
            raise HelperError("%s names %d Swift %ss; name one with more of its name or its parameter types "
                              "(as FrameAllocator.free(Frame)):\n  %s" % (query.strip(), len(groups), kind, listed))
        return next(iter(groups.values()))

    def function_at(self, address):
        """The demangled name of the out-of-line function holding `address`, or None."""
        for start, end, name in self.functions_by_address:
            if start <= address < end:
                entry = self.by_mangled.get(name)
                return entry.full if entry else name
        return None

    def describe(self, mangled):
        entry = self.by_mangled.get(mangled)
        return entry.full if entry else self.texts.get(mangled, mangled)


_images = {}


def image():
    """The kernel gdb has loaded, read once per file and modification."""
    objfiles = [o for o in gdb.objfiles() if o.filename and o.is_valid()]
    if not objfiles:
        raise HelperError("no kernel loaded: start gdb with guest.elf (kvmhost kernel-path prints its path)")
    path = objfiles[0].filename
    try:
        key = (path, os.stat(path).st_mtime_ns)
    except OSError as error:
        raise HelperError("cannot read %s: %s" % (path, error.strerror))
    if key not in _images:
        _images.clear()
        try:
            _images[key] = KernelImage(path)
        except HelperError as error:
            _images[key] = error
        except (ValueError, IndexError, struct.error, UnicodeError) as error:
            _images[key] = HelperError("cannot read the symbols of %s: %s" % (path, error))
    found = _images[key]
    if isinstance(found, HelperError):
        raise found  # once per file: a demangler that hangs is not asked again
    return found


# ---------------------------------------------------------------------------
# Reading guest memory and the kernel's variables.

def require_guest():
    """A live guest to read: gdb would read the ELF file's bytes without one."""
    if gdb.selected_thread() is None:
        raise HelperError("no guest: attach to one first (kvmhost gdb PORT, or target remote 127.0.0.1:PORT)")


def read_virtual(address, count):
    require_guest()
    try:
        return bytes(gdb.selected_inferior().read_memory(address, count))
    except gdb.MemoryError:
        raise HelperError("cannot read %d bytes at 0x%x in the guest" % (count, address))


def read_physical(address, count):
    """Bytes at a physical address, in the stub's physical mode (kvmhost's
    stub and QEMU's both take QEMU's packet), back to virtual mode after."""
    gdb.execute("maintenance packet Qqemu.PhyMemMode:1", to_string=True)
    try:
        return read_virtual(address, count)
    finally:
        gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)


def variable(name):
    """A live kernel variable by its Swift name, as a gdb.Value; refused
    while its one-time initializer has not run (its bytes mean nothing yet)."""
    require_guest()
    kernel = image()
    entry = kernel.one(name, "variable")[0]
    if not _integer("$cr0") >> 31 & 1:
        raise HelperError("%s cannot be read yet: paging is off (CR0.PG clear), so the kernel's addresses are not mapped"
                          % entry.full.split(" : ")[0])
    token = kernel.token(entry.mangled)
    if token is not None and struct.unpack("<q", read_virtual(token, 8))[0] == 0:
        raise HelperError("%s is not initialized yet: its one-time initializer has not run" % entry.full.split(" : ")[0])
    try:
        return gdb.parse_and_eval("'%s'" % entry.mangled)
    except gdb.error as error:
        raise HelperError("%s: %s" % (name, error))


def _is_case_list(kind):
    """A Swift enum without payloads: gdb shows it as a struct of void cases."""
    fields = kind.fields()
    return kind.code == gdb.TYPE_CODE_STRUCT and fields and all(
        f.type.strip_typedefs().code == gdb.TYPE_CODE_VOID for f in fields)


def _alignment(kind):
    kind = kind.strip_typedefs()
    if kind.code == gdb.TYPE_CODE_STRUCT and kind.fields() and not _is_case_list(kind):
        return max(_alignment(f.type) for f in kind.fields())
    return max(1, min(kind.sizeof, 8)) if kind.sizeof in (1, 2, 4, 8) else 8


def fields(value):
    """A struct's stored properties as (name, value), at the offsets Swift
    lays them out: in declaration order, each at its natural alignment. (The
    member offsets in this toolchain's DWARF leave out the padding, so a
    field after a one-byte enum would be read a few bytes early.)"""
    kind = value.type.strip_typedefs()
    offset = 0
    found = []
    for field in kind.fields():
        if field.is_base_class or field.name is None:
            continue
        field_type = field.type.strip_typedefs()
        align = _alignment(field_type)
        offset = (offset + align - 1) // align * align
        found.append((field.name, gdb.Value(int(value.address) + offset).cast(field_type.pointer()).dereference()))
        offset += field_type.sizeof
    return found


def field(value, name):
    for found, member in fields(value):
        if found == name:
            return member
    raise HelperError("%s has no stored property %s" % (value.type, name))


def number(value):
    """A Swift integer, Bool or enum as a Python int: its `_value`, unwrapped."""
    while value.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
        members = fields(value)
        if len(members) != 1:
            raise HelperError("%s is not a number" % value.type)
        value = members[0][1]
    return int(value)


def word_at(value):
    """The 8 bytes of a value gdb types as incomplete (a pointer, an Array)."""
    return struct.unpack("<Q", read_virtual(int(value.address), 8))[0]


_SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "Guest")
_cases = {}


def enum_cases(name):
    """A kernel enum's cases in declaration order, as (name, raw value), read
    from its declaration in Sources/Guest: the debug information names only
    some cases of an enum, differently in each unit."""
    if name in _cases:
        return _cases[name]
    declaration = re.compile(r"\benum %s\b[^{]*\{(.*?)\n\}" % re.escape(name), re.S)
    found = []
    for directory, _, files in os.walk(_SOURCES):
        for file in sorted(files):
            if not file.endswith(".swift") or found:
                continue
            with open(os.path.join(directory, file), encoding="utf-8") as source:
                match = declaration.search(source.read())
            if not match:
                continue
            for line in match.group(1).split("\n"):
                line = line.split("//")[0].strip()
                if not line.startswith("case "):
                    continue
                for item in re.split(r",\s*(?![^(]*\))", line[len("case "):]):
                    parts = re.match(r"`?(\w+)`?\s*(?:\([^)]*\))?\s*(?:=\s*(\S+))?", item.strip())
                    if parts:
                        raw = parts.group(2)
                        found.append((parts.group(1), int(raw, 0) if raw and re.match(r"^(0x[0-9a-fA-F]+|\d+)$", raw) else None))
    _cases[name] = found
    return found


def case_name(value):
    """A payload-free Swift enum's case: its tag is the case's index in declaration order."""
    index = read_virtual(int(value.address), 1)[0]
    cases = enum_cases(str(value.type.strip_typedefs().name))
    return cases[index][0] if index < len(cases) else "case %d" % index


def show(value, depth=0):
    """A kernel value as Swift would print it: numbers plain, enums by case."""
    kind = value.type.strip_typedefs()
    if kind.code == gdb.TYPE_CODE_ENUM or _is_case_list(kind):
        return "." + case_name(value)
    if kind.code != gdb.TYPE_CODE_STRUCT:
        return str(value)
    members = fields(value)
    if not members:
        if kind.sizeof == 8 and value.address is not None:
            return "0x%x" % word_at(value)  # a pointer or a reference
        return str(value)
    if len(members) == 1 and members[0][0] == "_value":
        raw = int(members[0][1])
        if str(kind.name) == "Bool":
            return "true" if raw else "false"
        # A count or an address: both forms once it could be either.
        return str(raw) if raw < 4096 else "%d (0x%x)" % (raw, raw)
    if len(members) == 1 and members[0][0] == "rawValue":
        return "0x%x" % number(members[0][1])
    if depth > 4:
        return "{...}"
    return "{" + ", ".join("%s: %s" % (name, show(member, depth + 1)) for name, member in members) + "}"


# ---------------------------------------------------------------------------
# Backtraces with Swift names.

def _frame_decorator_class():
    from gdb.FrameDecorator import FrameDecorator

    class SwiftNamedFrame(FrameDecorator):
        def function(self):
            name = super(SwiftNamedFrame, self).function()
            if isinstance(name, int):  # gdb found no symbol: the pc
                try:
                    name = image().function_at(name)
                except Exception:
                    name = None
            if name is None or name == "":
                return "??"
            if isinstance(name, str) and name.startswith("$e"):
                try:
                    return image().describe(name)
                except Exception:
                    return name  # the mangled name, rather than no backtrace
            return name

    return SwiftNamedFrame


class SwiftNamesInBacktraces:
    """`bt` shows Pagemap.translate(VirtualAddress) -> Translation?, not
    its mangled name (`disable frame-filter global swift-names` to see those)."""

    def __init__(self):
        self.name = "swift-names"
        self.priority = 100
        self.enabled = True
        self.decorator = _frame_decorator_class()
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        return map(self.decorator, frames)


# ---------------------------------------------------------------------------
# swift: breakpoints, listings and variables by Swift name.

class SwiftPrefix(gdb.Command):
    """Swift names for the guest kernel's functions and variables.

swift break NAME [--in CALLER | --all]   a hardware breakpoint on a function
swift functions TEXT                      the functions whose name holds TEXT
swift list NAME                           the source of a function
swift print NAME                          a static variable, as Swift shows it

A NAME is what the source says: Pagemap.translate, FrameAllocator.allocate,
kmain; add parameter types for an overload: FrameAllocator.free(Frame)."""

    def __init__(self):
        super().__init__("swift", gdb.COMMAND_USER, prefix=True)


def _arguments(text):
    words = gdb.string_to_argv(text)
    options = {}
    rest = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--all":
            options["all"] = True
        elif word == "--in":
            if index + 1 >= len(words):
                raise HelperError("--in takes the name of a calling function")
            options["in"] = words[index + 1]
            index += 1
        elif word.startswith("--"):
            raise HelperError("no option %s (there are --in CALLER and --all)" % word)
        else:
            rest.append(word)
        index += 1
    return " ".join(rest), options


def _hardware_breakpoints_in_use():
    addresses = set()
    for breakpoint in gdb.breakpoints():
        if not breakpoint.enabled or breakpoint.type not in (gdb.BP_BREAKPOINT, gdb.BP_HARDWARE_BREAKPOINT):
            continue
        for location in getattr(breakpoint, "locations", []):
            if location.enabled and location.address is not None:
                addresses.add(location.address)
    return addresses


class SwiftBreak(gdb.Command):
    """A hardware breakpoint on a kernel function named as in Swift.

swift break NAME              on its out-of-line copy, where it has one; a
                              function inlined everywhere gets every copy
                              if they fit in the four hardware breakpoints
swift break NAME --in CALLER  only on the copies inlined into CALLER
swift break NAME --all        on every copy, out-of-line and inlined

It says which locations it covers and which it leaves, and refuses, saying
why, what would need more than the four hardware breakpoints (DR0-DR3)."""

    def __init__(self):
        super().__init__("swift break", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, text, from_tty):
        try:
            self.place(*_arguments(text))
        except HelperError as error:
            raise gdb.GdbError(str(error))
        except (gdb.error, RuntimeError, ValueError) as error:
            raise gdb.GdbError("swift break: %s" % error)

    def place(self, name, options):
        if "in" in options and options.get("all"):
            raise HelperError("--in and --all each choose the copies: give one")
        if "in" in options and not options["in"].strip():
            raise HelperError("--in takes the name of a calling function")
        kernel = image()
        group = kernel.one(name, "function")
        mangled = set(entry.mangled for entry in group)
        title = group[0].full
        # Each copy as plain values, read once: gdb's location objects die with their breakpoint.
        placed = []   # (breakpoint, [Copy])
        for symbol in sorted(mangled):
            before = set(b.number for b in gdb.breakpoints())
            try:
                gdb.execute("break '%s'" % symbol, to_string=True)  # quietly: the summary below says where
            except gdb.error:
                continue  # a name the debug information knows but gdb cannot place
            new = [b for b in gdb.breakpoints() if b.number not in before]
            for breakpoint in new:
                copies = [_Copy(breakpoint.number, index, location, mangled, kernel)
                          for index, location in enumerate(breakpoint.locations)]
                placed.append((breakpoint, copies))
        copies = [copy for _, found in placed for copy in found]

        def undo():
            for breakpoint, _ in placed:
                if breakpoint.is_valid():
                    breakpoint.delete()

        if not copies:
            undo()
            raise HelperError("%s has no code gdb can place a breakpoint in" % title)
        own = [copy for copy in copies if copy.own]
        inlined = [copy for copy in copies if not copy.own]
        free = HARDWARE_BREAKPOINTS - len(_hardware_breakpoints_in_use() - set(copy.address for copy in copies))
        if "in" in options:
            wanted = options["in"].strip()
            chosen = [copy for copy in inlined if copy.caller.startswith(wanted) or ("." + wanted) in copy.caller]
            if not chosen:
                undo()
                raise HelperError("%s is not inlined into %s; it is inlined into: %s"
                                  % (title, wanted, _listed(copy.caller for copy in inlined)))
        elif options.get("all"):
            chosen = copies
        elif own and len(set(copy.address for copy in copies)) > free:
            chosen = own  # all would not fit: the function's own code
        else:
            chosen = copies
        needed = len(set(copy.address for copy in chosen))
        if needed > free:
            undo()
            raise HelperError(
                "%s would take %d hardware breakpoints and %d of the %d are free; it has %d out-of-line and %d inlined "
                "copies; cover fewer with --in CALLER, one of: %s"
                % (title, needed, max(free, 0), HARDWARE_BREAKPOINTS, len(own), len(inlined),
                   _listed(copy.caller for copy in inlined)))
        kept = set((copy.number, copy.index) for copy in chosen)
        for breakpoint, found in placed:
            if not any((copy.number, copy.index) in kept for copy in found):
                breakpoint.delete()
                continue
            for copy, location in zip(found, breakpoint.locations):
                if (copy.number, copy.index) not in kept:
                    location.enabled = False
        left = [copy for copy in copies if (copy.number, copy.index) not in kept]
        print("Breakpoint %s: %s" % (", ".join(str(n) for n in sorted(set(copy.number for copy in chosen))), title))
        for copy in chosen:
            print("  covers 0x%x, %s%s" % (copy.address, "out-of-line copy" if copy.own else "inlined into " + copy.caller,
                                          copy.source))
        if left:
            print("  leaves %d location%s (disabled: a call through them does not stop):"
                  % (len(left), "" if len(left) == 1 else "s"))
            places = {}
            for copy in left:
                where = "its out-of-line copy" if copy.own else "inlined into " + copy.caller
                places[where] = places.get(where, 0) + 1
            for where in sorted(places):
                print("    " + where + ("" if places[where] == 1 else " (%d copies)" % places[where]))
            if "in" not in options:
                print("  cover the copies in one function with: swift break %s --in CALLER "
                      "(the start of its name, as listed)" % name)


def _listed(names, most=8):
    """A list for one line: the first `most`, then how many more."""
    names = sorted(set(names))
    shown = "; ".join(names[:most])
    return shown + ("; and %d more" % (len(names) - most) if len(names) > most else "") if names else "nothing"


class _Copy:
    """One location of a breakpoint, as values."""

    def __init__(self, number, index, location, mangled, kernel):
        self.number = number
        self.index = index
        self.address = location.address
        self.own = location.function in mangled
        self.caller = kernel.describe(location.function) if location.function else "?"
        self.source = _source(location)


def _source(location):
    source = location.source
    if source:
        return " at %s:%d" % (os.path.basename(source[0]), source[1])
    return ""


class SwiftFunctions(gdb.Command):
    """The kernel functions whose Swift name holds TEXT, with the address of
their out-of-line copy, or "inlined only": swift functions translate"""

    def __init__(self):
        super().__init__("swift functions", gdb.COMMAND_STATUS)

    def invoke(self, text, from_tty):
        try:
            kernel = image()
        except HelperError as error:
            raise gdb.GdbError(str(error))
        text = text.strip()
        rows = {}
        for entry in kernel.names:
            if entry.kind == "function" and text in entry.full:
                address = rows.get(entry.full)
                if entry.address is not None and (address is None or entry.address < address):
                    rows[entry.full] = entry.address
                else:
                    rows.setdefault(entry.full, None)
        if not rows:
            raise gdb.GdbError("no Swift function holds '%s'" % text)
        shown = sorted(rows)
        for full in shown[:100]:
            address = rows[full]
            print("%-18s %s" % ("0x%x" % address if address is not None else "inlined only", full))
        if len(shown) > 100:
            print("... and %d more: say more of the name" % (len(shown) - 100))


class SwiftList(gdb.Command):
    """The source of a kernel function named as in Swift: swift list Pagemap.map"""

    def __init__(self):
        super().__init__("swift list", gdb.COMMAND_FILES)

    def invoke(self, text, from_tty):
        try:
            name, options = _arguments(text)
            if options:
                raise HelperError("swift list takes a name, no options")
            group = image().one(name, "function")
        except HelperError as error:
            raise gdb.GdbError(str(error))
        own = [e for e in group if e.address is not None]
        if own:
            try:
                gdb.execute("list *0x%x" % own[0].address)
            except gdb.error as error:
                raise gdb.GdbError("%s: %s" % (group[0].full, error))
            return
        try:
            found = gdb.decode_line("'%s'" % group[0].mangled)[1] or []
        except gdb.error as error:
            raise gdb.GdbError("%s: %s" % (group[0].full, error))
        if not found or found[0].symtab is None:
            raise gdb.GdbError("%s has no line in the debug information" % group[0].full)
        gdb.execute("list %s:%d" % (found[0].symtab.filename, found[0].line))


class SwiftPrint(gdb.Command):
    """A kernel static variable named as in Swift, as Swift would show it:
swift print PhysicalMemory.frames, swift print CurrentProcess.reason"""

    def __init__(self):
        super().__init__("swift print", gdb.COMMAND_DATA)

    def invoke(self, text, from_tty):
        try:
            name, options = _arguments(text)
            if options:
                raise HelperError("swift print takes a name, no options")
            entry = image().one(name, "variable")[0]
            print("%s = %s" % (entry.full.split(" : ")[0], show(variable(name))))
        except HelperError as error:
            raise gdb.GdbError(str(error))
        except gdb.error as error:
            raise gdb.GdbError("%s: %s" % (text.strip(), error))


# ---------------------------------------------------------------------------
# kernel: the memory manager's state, read from guest memory.

class KernelPrefix(gdb.Command):
    """The guest kernel's memory manager, read from guest memory through the
stub (the kernel is not asked: it may be stopped anywhere).

kernel walk ADDRESS [CR3]   the page walk of ADDRESS in the selected CPU's
                            address space (or the one CR3 names)
kernel frames               the frame allocator's counts
kernel process              the current process, its address space and
                            its memory space's reservations
kernel faults               the page trap's last decisions, newest first"""

    def __init__(self):
        super().__init__("kernel", gdb.COMMAND_USER, prefix=True)


_LEVELS = (("PML4", 39), ("PDPT", 30), ("PD", 21), ("PT", 12))
_FLAG_BITS = ((0, "present"), (1, "writable"), (2, "user"), (3, "write-through"), (4, "cache-disable"),
              (5, "accessed"), (6, "dirty"), (8, "global"), (63, "no-execute"))
_ADDRESS_BITS = 0x000F_FFFF_FFFF_F000


def _flags(entry, level):
    names = [name for bit, name in _FLAG_BITS if entry >> bit & 1 and not (bit == 8 and level < 3)]
    return " ".join(names)


class KernelWalk(gdb.Command):
    """The page walk of a virtual address: kernel walk 0x3e000 [CR3]"""

    def __init__(self):
        super().__init__("kernel walk", gdb.COMMAND_DATA)

    def invoke(self, text, from_tty):
        try:
            self.walk(gdb.string_to_argv(text))
        except HelperError as error:
            raise gdb.GdbError(str(error))

    def walk(self, words):
        if len(words) not in (1, 2):
            raise HelperError("kernel walk ADDRESS [CR3]")
        require_guest()
        address = _integer(words[0])
        if len(words) == 1:
            # The tables the CPU uses: 4-level paging only in long mode with paging on.
            cr0, efer, cr4 = (_integer("$" + name) for name in ("cr0", "efer", "cr4"))
            if not cr0 >> 31 & 1:
                print("paging is off (CR0.PG clear): 0x%x is a physical address" % address)
                return
            if not efer >> 10 & 1:
                raise HelperError("the CPU is not in long mode (EFER.LMA clear): its tables are not 4-level")
            if cr4 >> 12 & 1:
                raise HelperError("CR4.LA57 is set: 5-level paging, which this walk does not follow")
            root = _integer("$cr3") & _ADDRESS_BITS
        else:
            root = _integer(words[1]) & _ADDRESS_BITS
        top = address >> 47
        if top not in (0, 0x1FFFF):
            raise HelperError("0x%x is not canonical: bits 63-47 differ" % address)
        print("0x%x through the tables at 0x%x:" % (address, root))
        table = root
        for depth, (name, shift) in enumerate(_LEVELS):
            index = address >> shift & 0x1FF
            at = table + index * 8
            try:
                entry, = struct.unpack("<Q", read_physical(at, 8))
            except HelperError:
                print("  %s[%d] at 0x%x: unreadable (outside guest RAM)" % (name, index, at))
                return
            level = 4 - depth
            if not entry & 1:
                print("  %s[%d] at 0x%x = 0x%016x not present" % (name, index, at, entry))
                print("  0x%x is not mapped" % address)
                return
            physical = entry & _ADDRESS_BITS
            huge = level in (2, 3) and entry >> 7 & 1
            if huge:
                size = 1 << shift
                physical = (entry & _ADDRESS_BITS & ~(size - 1)) | (address & (size - 1))
                print("  %s[%d] at 0x%x = 0x%016x %s, %s page" % (name, index, at, entry, _flags(entry, level),
                                                                 "1 GiB (where the CPU has pdpe1gb)" if level == 3 else "2 MiB"))
                print("  0x%x -> physical 0x%x" % (address, physical))
                return
            if level == 1:
                print("  %s[%d] at 0x%x = 0x%016x %s -> frame 0x%x" % (name, index, at, entry, _flags(entry, level), physical))
                print("  0x%x -> physical 0x%x" % (address, physical | address & 0xFFF))
                return
            print("  %s[%d] at 0x%x = 0x%016x %s -> table 0x%x" % (name, index, at, entry, _flags(entry, level), physical))
            table = physical


def _integer(expression):
    """An address or number gdb evaluates: an integer, a pointer, or a function's address."""
    try:
        value = gdb.parse_and_eval(expression)
    except gdb.error as error:
        raise HelperError("%s: %s" % (expression, error))
    kind = value.type.strip_typedefs()
    if kind.code == gdb.TYPE_CODE_FUNC:
        value = value.address
        kind = value.type.strip_typedefs()
    if kind.code not in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_BOOL, gdb.TYPE_CODE_ENUM):
        raise HelperError("%s is not an address (its type is %s)" % (expression, value.type))
    return int(value) & 0xFFFF_FFFF_FFFF_FFFF


class KernelFrames(gdb.Command):
    """The frame allocator's counts, as the monitor's `frames` prints them."""

    def __init__(self):
        super().__init__("kernel frames", gdb.COMMAND_DATA)

    def invoke(self, text, from_tty):
        try:
            frames = variable("PhysicalMemory.frames")
            total = number(field(frames, "frameCount"))
            free = number(field(frames, "freeFrames"))
            usable = number(field(frames, "usableFrames"))
            reserved_usable = number(field(frames, "reservedUsableFrames"))
        except (HelperError, gdb.error) as error:
            raise gdb.GdbError(str(error))
        # FrameAllocator.usedFrames and .reservedFrames, from the same fields.
        print("frames: total %d, free %d, used %d, reserved %d"
              % (total, free, usable - reserved_usable - free, total - usable + reserved_usable))
        print("usable: %d frames, %d of them reserved at boot; lowest never handed out: frame %d"
              % (usable, reserved_usable, number(field(frames, "handedOutBelow"))))


_types = {}


def find_type(name):
    """A kernel struct's type by its Swift name. gdb indexes no Swift type
    by name, so it is taken from a variable of that type in the blocks of
    a function whose signature names it. None when none has one."""
    key = (image().path, name)
    if key in _types:
        return _types[key]
    found = None
    for entry in image().names:
        if found or entry.kind != "function" or entry.address is None or name not in entry.full:
            continue
        for pc in range(entry.address, entry.address + entry.size, 2):
            block = gdb.block_for_pc(pc)
            while block is not None and not found:
                for symbol in block:
                    kind = symbol.type.strip_typedefs()
                    if kind.code == gdb.TYPE_CODE_STRUCT and kind.name == name:
                        found = kind
                        break
                if block.function is not None:
                    break
                block = block.superblock
            if found:
                break
    _types[key] = found
    return found


class KernelProcess(gdb.Command):
    """The current process: whether one runs, its threads, its address
space's root, its memory space and reservations, and how it last faulted."""

    def __init__(self):
        super().__init__("kernel process", gdb.COMMAND_DATA)

    def invoke(self, text, from_tty):
        try:
            self.show()
        except (HelperError, gdb.error) as error:
            raise gdb.GdbError(str(error))

    def show(self):
        active = number(variable("CurrentProcess.active"))
        pagemap = variable("CurrentProcess.pagemap")
        root = number(field(field(pagemap, "root"), "number")) << 12
        if not active and root == 0:
            print("no process has run yet")
            return
        threads = number(variable("CurrentProcess.threads"))
        print("process: %s, %d thread%s, address space at 0x%x" % (
            "running" if active else "ended (the last one run)", threads, "" if threads == 1 else "s", root))
        space = variable("CurrentProcess.space")
        base, limit, mark = (number(field(space, name)) for name in ("base", "limit", "highWaterMark"))
        storage = word_at(field(space, "reservations"))
        # An Array is a reference to its buffer: a heap object's header (two
        # words), then its count and capacity, then its elements.
        count = struct.unpack("<q", read_virtual(storage + 16, 8))[0] if storage else 0
        print("memory space 0x%x-0x%x, high-water mark 0x%x, %d reservation%s"
              % (base, limit, mark, count, "" if count == 1 else "s"))
        kind = find_type("Reservation")
        if count and kind is None:
            print("  (Reservation's type is not in the debug information: not listed)")
        elif count:
            if count > 4096:
                raise HelperError("the reservations array says %d elements: not a live array" % count)
            stride = (kind.sizeof + 7) // 8 * 8  # Swift's stride: the size rounded up to the alignment (8 here)
            for index in range(count):
                element = gdb.Value(storage + 32 + index * stride).cast(kind.pointer()).dereference()
                start, pages = number(field(element, "start")), number(field(element, "pageCount"))
                print("  0x%x-0x%x %d page%s, %s, flags %s" % (start, start + pages * 4096, pages,
                                                              "" if pages == 1 else "s", show(field(element, "backing")),
                                                              show(field(element, "flags"))))
        killed = number(variable("CurrentProcess.killed"))
        print("killed: %s, status %d" % ("yes" if killed else "no", number(variable("CurrentProcess.status"))))
        if killed:
            print("fault: %s at 0x%x, rip 0x%x, vector %d, thread %d" % (
                show(variable("CurrentProcess.reason")), number(variable("CurrentProcess.faultAddress")),
                number(variable("CurrentProcess.faultRip")), number(variable("CurrentProcess.faultVector")),
                number(variable("CurrentProcess.faultThread"))))


def _error_code(code):
    words = ["present" if code & 1 else "not present", "write" if code & 2 else "read",
             "user" if code & 4 else "kernel"]
    if code & 8:
        words.append("reserved bit")
    if code & 16:
        words.append("instruction fetch")
    return ", ".join(words)


class KernelFaults(gdb.Command):
    """The page trap's last decisions, newest first, as the monitor's `faults`."""

    def __init__(self):
        super().__init__("kernel faults", gdb.COMMAND_DATA)

    def invoke(self, text, from_tty):
        try:
            total = number(variable("RecentFaults.total"))
            if total == 0:
                print("no page faults yet")  # the ring is made at the first
                return
            capacity = number(variable("RecentFaults.capacity"))
            ring = word_at(variable("RecentFaults.addresses"))
            reasons = dict((raw, name) for name, raw in enum_cases("FaultReason"))
        except (HelperError, gdb.error) as error:
            raise gdb.GdbError(str(error))
        if not 0 < capacity <= 1024:
            raise gdb.GdbError("RecentFaults.capacity is %d: not a live kernel's" % capacity)
        shown = min(total, capacity)
        print("%d page-trap decisions since boot; the last %d, newest first:" % (total, shown))
        for age in range(shown):
            slot = (total - 1 - age) % capacity * 3
            address, code, reason = struct.unpack("<QQQ", read_virtual(ring + slot * 8, 24))
            # A reason is stored as its raw value (0: none, reallocated).
            decision = "reallocated" if reason == 0 else reasons.get(reason, "reason %d" % reason)
            print("  0x%x error 0x%x (%s) -> %s" % (address, code, _error_code(code), decision))


def register():
    SwiftPrefix()
    SwiftBreak()
    SwiftFunctions()
    SwiftList()
    SwiftPrint()
    KernelPrefix()
    KernelWalk()
    KernelFrames()
    KernelProcess()
    KernelFaults()
    SwiftNamesInBacktraces()


register()
