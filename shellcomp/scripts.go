package shellcomp

import (
	"fmt"
	"strings"
)

// Shells are the shells Script writes for, in the order `make install`
// installs them.
var Shells = []string{"bash", "zsh", "fish"}

// The scripts hand the line to the binary the user typed (`TOOL
// __complete`), so what completes is what that binary accepts; after
// "--" they hand the rest to the wrapped command's own completion. TOOL
// is replaced with the tool's name.
const bashScript = `# bash completion for TOOL: candidates from "TOOL __complete" (TOOL __completion bash)
_TOOL_complete() {
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            # The wrapped command's own completion (bash-completion).
            if declare -F _command_offset >/dev/null; then
                _command_offset $((i + 1))
            fi
            return
        fi
    done
    local IFS=$'\n'
    COMPREPLY=($(COMP_LINE=$COMP_LINE COMP_POINT=$COMP_POINT "${COMP_WORDS[0]}" __complete 2>/dev/null))
}
complete -o bashdefault -o default -F _TOOL_complete TOOL
`

const zshScript = `#compdef TOOL
# zsh completion for TOOL: candidates from "TOOL __complete" (TOOL __completion zsh)
local i line
local -a cands
for (( i = 2; i < CURRENT; i++ )); do
  if [[ $words[i] == -- ]]; then
    # The wrapped command's own completion.
    shift $i words
    (( CURRENT -= i ))
    _normal
    return
  fi
done
line="${(j: :)words[1,CURRENT]}"
cands=("${(@f)$(COMP_LINE=$line COMP_POINT=${#line} ${words[1]} __complete 2>/dev/null)}")
cands=(${cands:#})
if (( ${#cands} )); then
  compadd -Q -- $cands
else
  _files
fi
`

const fishScript = `# fish completion for TOOL: candidates from "TOOL __complete" (TOOL __completion fish)
function __TOOL_complete
    set -l tokens (commandline -opc)
    if set -l i (contains -i -- -- $tokens)
        # The wrapped command's own completion.
        set -e tokens[1..$i]
        complete -C (string join ' ' -- $tokens (commandline -ct))
        return
    end
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    set -lx COMP_POINT (string length -- "$COMP_LINE")
    $tokens[1] __complete 2>/dev/null
end
complete -c TOOL -f -a '(__TOOL_complete)'
`

// Script is the completion script of tool for shell.
func Script(shell, tool string) (string, error) {
	var s string
	switch shell {
	case "bash":
		s = bashScript
	case "zsh":
		s = zshScript
	case "fish":
		s = fishScript
	default:
		return "", fmt.Errorf("__completion: unknown shell %q (known: %s)", shell, strings.Join(Shells, ", "))
	}
	return strings.ReplaceAll(s, "TOOL", tool), nil
}
