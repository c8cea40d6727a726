#!/usr/bin/env bash
# Writes the GuestKernelTests XCTest class: one method per in-kernel case,
# in the order GuestTestTable.swift joins the *Cases files' lists
# (`NameCases.cases`) and each list names its cases (GuestTestCase("name")),
# except the mechanism_ cases, which test the machinery and one of which
# fails on purpose. GuestTestMechanismTests checks the result against what
# the built kernel lists.
# Usage: generate-test-methods.sh KERNEL_TESTS_DIRECTORY OUTPUT
set -euo pipefail
directory=$1 output=$2
mapfile -t lists < <(grep -oE '\b[A-Za-z]+Cases\.cases\b' "$directory/GuestTestTable.swift" | sed 's/\.cases$//')
names=()
for list in "${lists[@]}"; do
    file="$directory/$list.swift"
    [ -f "$file" ] || { echo "error: GuestTestTable.swift joins $list.cases, but $file does not exist" >&2; exit 1; }
    mapfile -t found < <(grep -oE 'GuestTestCase\("[A-Za-z0-9_]+"' "$file" | sed -E 's/GuestTestCase\("(.*)"/\1/' | grep -v '^mechanism_' || true)
    names+=(${found[@]+"${found[@]}"})
done
# A *Cases file the table does not join would never run.
for file in "$directory"/*Cases.swift; do
    list=$(basename "$file" .swift)
    [[ " ${lists[*]} " == *" $list "* ]] || { echo "error: $file's cases are not in GuestTestTable.swift" >&2; exit 1; }
done
if [ "${#names[@]}" -eq 0 ]; then
    echo "error: no test cases found in $directory" >&2
    exit 1
fi
{
    echo "// Generated from the case lists of Sources/Guest/KernelTests by"
    echo "// generate-test-methods.sh at build time. Do not edit."
    echo "import TestSupport"
    echo "import XCTest"
    echo
    echo "final class GuestKernelTests: GuestBehaviourTestCase {"
    echo "    /// The cases this class has a method for, in the kernel's order."
    echo "    static let generatedNames = ["
    for name in "${names[@]}"; do echo "        \"$name\","; done
    echo "    ]"
    for name in "${names[@]}"; do
        echo
        echo "    func test_$name() throws { try GuestCaseRunner.run(\"$name\", in: self) }"
    done
    echo "}"
} > "$output.tmp"
mv "$output.tmp" "$output"
