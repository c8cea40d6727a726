#!/usr/bin/env bash
# Writes the GuestKernelTests XCTest class: one method per entry of the
# kernel's test table (GuestTestCase("name", ...)), except the mechanism_
# cases, which test the machinery and one of which fails on purpose.
# Usage: generate-test-methods.sh GUEST_TEST_TABLE OUTPUT
set -euo pipefail
table=$1 output=$2
mapfile -t names < <(grep -oE 'GuestTestCase\("[A-Za-z0-9_]+"' "$table" | sed -E 's/GuestTestCase\("(.*)"/\1/' | grep -v '^mechanism_')
if [ "${#names[@]}" -eq 0 ]; then
    echo "error: no test cases found in $table" >&2
    exit 1
fi
{
    echo "// Generated from Sources/Guest/KernelTests/GuestTestTable.swift by"
    echo "// generate-test-methods.sh at build time. Do not edit."
    echo "import TestSupport"
    echo "import XCTest"
    echo
    echo "final class GuestKernelTests: GuestBehaviourTestCase {"
    echo "    /// The cases this class has a method for, in the table's order."
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
