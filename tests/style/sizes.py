"""style.sizes: files in src/ and include/ stay under 400 lines and function bodies under 60,
unless the line before the function is a comment `// long: <reason>`. Prints every offender.
Functions are found by a brace scan over the code with comments and strings blanked: a `{` at
namespace or class scope whose text since the previous `;`, `{` or `}` holds a parameter list and
no `=` (data) opens a function body; its length is the lines between its braces.
usage: sizes.py REPO_ROOT [--self-test]"""
import os
import re
import sys

MAX_FILE_LINES = 400
MAX_BODY_LINES = 60
SOURCES = (".cpp", ".hpp", ".h", ".cc")
LONG_OK = re.compile(r"^\s*//\s*long:\s*\S")


def blank_comments_and_strings(text):
    """The text with comments, string and character literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # a digit separator (1'000)
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def kind_of(header):
    """What a `{` after `header` opens at namespace or class scope."""
    h = " ".join(header.split())
    if re.search(r"\bnamespace\b", h) or re.match(r'extern\s*$', h):
        return "namespace"
    if re.match(r"^(template\s*<.*>\s*)?(class|struct|union|enum)\b", h) and "(" not in h.split(":")[0]:
        return "class"
    depth, assigned = 0, False
    for ch in h:  # an `=` outside parentheses: data (an initializer, a lambda stored in a variable)
        depth += ch in "(<[" and 1 or 0
        depth -= ch in ")>]" and 1 or 0
        assigned = assigned or (ch == "=" and depth <= 0)
    if not assigned and re.search(r"[\w~>\]]\s*\(.*\)", h) and not re.match(r"^(if|for|while|switch|catch)\b", h):
        return "function"
    return "other"


def functions(text):
    """(name, first line of the declaration, body lines) of every function body in the text."""
    code = blank_comments_and_strings(text)
    found, stack = [], []  # stack of (kind, start line, open line, name)
    boundary, line = 0, 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            if stack and stack[-1][0] in ("function", "other"):
                stack.append(("other", 0, line, ""))
            else:
                header = code[boundary:i]
                kind = kind_of(header)
                start = line - header.lstrip().count("\n")  # the declaration's first line
                name = re.findall(r"([\w:~]+)\s*\(", header)
                stack.append((kind, start, line, name[0] if name else "?"))
            boundary = i + 1
        elif c == "}":
            if stack:
                kind, start, opened, name = stack.pop()
                if kind == "function":
                    found.append((name, start, line - opened - 1))
            boundary = i + 1
        elif c == ";" and not (stack and stack[-1][0] in ("function", "other")):
            boundary = i + 1
    return found


def offenders(root):
    problems = []
    for top in ("src", "include"):
        for folder, _, files in sorted(os.walk(os.path.join(root, top))):
            for f in sorted(files):
                if not f.endswith(SOURCES):
                    continue
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, root)
                text = open(path, encoding="utf-8", errors="replace").read()
                lines = text.split("\n")
                count = len(lines) - (1 if text.endswith("\n") else 0)
                if count > MAX_FILE_LINES:
                    problems.append(f"{rel}: {count} lines (at most {MAX_FILE_LINES})")
                for name, start, body in functions(text):
                    if body > MAX_BODY_LINES and not (start >= 2 and LONG_OK.match(lines[start - 2])):
                        problems.append(f"{rel}:{start}: function {name} has a body of {body} lines "
                                        f"(at most {MAX_BODY_LINES}, or `// long: <reason>` on the line before it)")
    return problems


def self_test():
    body = "\n".join(f"  x += {i};" for i in range(61))
    text = ("namespace a {\nstruct S {\n  int f() const {\n    return 1;\n  }\n};\n"
            f"int big(int x) {{\n{body}\n  return x;\n}}\n"
            f"// long: a table\nint allowed(int x) {{\n{body}\n  return x;\n}}\n"
            f"const auto kLambda = [](int x) {{\n{body}\n  return x;\n}};\n"
            "const char* s = \"{ not a brace\";  // { nor this\n}\n")
    found = {name: (start, lines) for name, start, lines in functions(text)}
    assert found["f"] == (3, 1), found
    assert found["big"] == (7, 62), found
    assert "kLambda" not in found and len(found) == 3, found
    assert LONG_OK.match(text.split("\n")[found["allowed"][0] - 2]), found


if __name__ == "__main__":
    self_test()
    found = offenders(sys.argv[1])
    for p in found:
        print(p)
    print(f"style.sizes: {len(found)} offender(s)")
    sys.exit(1 if found else 0)
