// The module library libimmp_builtin_hook_notes.so (runner/builtins.hpp).
#include "hooks/notes/notes_hook.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.hook_notes",
            immp::describe<immp::hooks::NotesHook>())
