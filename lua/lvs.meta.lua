---@meta lvs
-- LuaLS definitions for the `lvs` module of lvsh. Editors read this file for completion;
-- lvsh's help() reads the same comments, so keep one description per function here.

---@class lvs
lvs = {}

---The lvsh version string.
---@type string
lvs.version = ""
