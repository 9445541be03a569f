-- The Lua side of lvsh: error handling, pretty printing, completion and help.
-- Receives the shell's internal table and fills it in; defines the global `help`.
local M = ...

local MAX_DEPTH = 4      -- nested tables below this are shown as {...}
local MAX_ITEMS = 200    -- entries shown per table before eliding the rest

-- Where the error was raised: the innermost frame that has a source line. Errors raised in
-- Rust carry no position, so this gives them the one Lua's error() would have given.
local function position(level)
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    if info.currentline and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
    level = level + 1
  end
end

local function handler(e)
  local msg
  if type(e) == "string" then
    msg = e
  elseif type(e) ~= "userdata" then
    local mt = getmetatable(e)
    msg = (type(mt) == "table" and mt.__tostring) and tostring(e)
      or string.format("(error object is a %s value)", type(e))
  else
    msg = M.describe_error(e)
    do
      -- a Rust error: name the Lua line that made the failing call
      msg = (position(3) or "") .. msg
    end
  end
  -- the frames of lvsh's own call wrapper are noise to the reader
  local tb = debug.traceback(msg, 2)
  tb = tb:gsub("\n\t%[C%]: in function 'xpcall'", ""):gsub("\n\tprelude:[^\n]*", "")
  return tb
end

function M.call(f, ...)
  return xpcall(f, handler, ...)
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
    and not ({["and"]=1,["break"]=1,["do"]=1,["else"]=1,["elseif"]=1,["end"]=1,["false"]=1,
      ["for"]=1,["function"]=1,["goto"]=1,["if"]=1,["in"]=1,["local"]=1,["nil"]=1,["not"]=1,
      ["or"]=1,["repeat"]=1,["return"]=1,["then"]=1,["true"]=1,["until"]=1,["while"]=1})[s]
end

local type_order = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_order[ta] or 9) < (type_order[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function scalar(v)
  if type(v) == "string" then return string.format("%q", v) end
  if math.type(v) == "float" and v == math.floor(v) and v == v and v ~= math.huge and v ~= -math.huge then
    return string.format("%.1f", v)
  end
  return tostring(v)
end

-- A short table of scalars reads best on one line: { 2, 3 } or { port = 80 }.
local INLINE_WIDTH = 60
local function inline(v, n)
  local parts, width, count = {}, 4, 0
  for k, x in pairs(v) do
    count = count + 1
    if type(x) == "table" or count > 16 then return nil end
    local item = scalar(x)
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      item = (is_identifier(k) and k or ("[" .. scalar(k) .. "]")) .. " = " .. item
    end
    width = width + #item + 2
    if width > INLINE_WIDTH then return nil end
  end
  for i = 1, n do parts[#parts + 1] = scalar(v[i]) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for _, k in ipairs(keys) do
    parts[#parts + 1] = (is_identifier(k) and k or ("[" .. scalar(k) .. "]")) .. " = " .. scalar(v[k])
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function render(v, indent, depth, seen, out)
  if type(v) ~= "table" then out[#out + 1] = scalar(v); return end
  if seen[v] then out[#out + 1] = "<cycle>"; return end
  if next(v) == nil and #v == 0 then out[#out + 1] = "{}"; return end
  if depth >= MAX_DEPTH then out[#out + 1] = "{...}"; return end
  seen[v] = true
  local n = #v
  local flat = inline(v, n)
  if flat then seen[v] = nil; out[#out + 1] = flat; return end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  local inner = indent .. "  "
  out[#out + 1] = "{\n"
  local shown = 0
  local function item(prefix, value)
    shown = shown + 1
    if shown > MAX_ITEMS then return false end
    out[#out + 1] = inner .. prefix
    render(value, inner, depth + 1, seen, out)
    out[#out + 1] = ",\n"
    return true
  end
  local complete = true
  for i = 1, n do
    if not item("", v[i]) then complete = false; break end
  end
  if complete then
    for _, k in ipairs(keys) do
      local prefix = is_identifier(k) and (k .. " = ") or ("[" .. scalar(k) .. "] = ")
      if not item(prefix, v[k]) then complete = false; break end
    end
  end
  if not complete then
    out[#out + 1] = inner .. string.format("-- %d more entries\n", n + #keys - MAX_ITEMS)
  end
  out[#out + 1] = indent .. "}"
  seen[v] = nil
end

function M.pretty(v)
  local out = {}
  render(v, "", 0, {}, out)
  return table.concat(out)
end

function M.pretty_values(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = M.pretty((select(i, ...))) end
  return table.concat(parts, "\t")
end

-- Completion of a dotted or colon path: "lvs.add_s" -> {"lvs.add_service", "lvs.add_server"}.
local function fields(t, seen, acc)
  seen = seen or {}
  acc = acc or {}
  if type(t) ~= "table" or seen[t] then return acc end
  seen[t] = true
  for k, v in pairs(t) do
    if is_identifier(k) and acc[k] == nil then acc[k] = v end
  end
  local mt = getmetatable(t)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then
    fields(rawget(mt, "__index"), seen, acc)
  end
  return acc
end

function M.complete(word)
  local head, sep, last = word:match("^(.-)([.:]?)([%w_]*)$")
  local scope = _G
  local base = ""
  if sep ~= "" then
    for part in head:gmatch("[^.:]+") do
      if type(scope) ~= "table" then return {} end
      scope = scope[part]
    end
    base = head .. sep
  elseif head ~= "" then
    return {}
  end
  local out = {}
  for k, v in pairs(fields(scope)) do
    if k:sub(1, #last) == last and (sep ~= ":" or type(v) == "function") then
      local suffix = ""
      if type(v) == "function" then suffix = "(" elseif type(v) == "table" then suffix = "." end
      out[#out + 1] = base .. k .. suffix
    end
  end
  table.sort(out)
  return out
end

-- help(): the documentation comes from lua/lvs.meta.lua, the same file editors read.
local docs
local function load_docs()
  if docs then return docs end
  docs = {}
  local pending = {}
  local class
  for line in (M.meta .. "\n"):gmatch("([^\n]*)\n") do
    local comment = line:match("^%-%-%-(.*)$")
    local cname = comment and comment:match("^@class%s+([%w_]+)")
    local field, ftype, fdoc = (comment or ""):match("^@field%s+([%w_?]+)%s+(%S+)%s*(.*)$")
    if cname then
      class = type(docs[cname]) == "table" and docs[cname] or { cname }
      docs[cname] = class
    elseif field and class then
      class[#class + 1] = string.format("  %-12s %-28s %s", field, ftype, fdoc)
    elseif comment then
      if not comment:match("^@meta") then
        pending[#pending + 1] = comment:gsub("^ ", "")
      end
    else
      local name, params = line:match("^function ([%w_.:]+)(%b())")
      if name then
        local text = {}
        text[#text + 1] = name .. params
        for _, c in ipairs(pending) do
          local p, rest = c:match("^@param%s+(%S+)%s+(.*)$")
          local r = c:match("^@return%s+(.*)$")
          if p then text[#text + 1] = "  " .. p .. ": " .. rest
          elseif r then text[#text + 1] = "  returns " .. r
          elseif not c:match("^@") then text[#text + 1] = "  " .. c end
        end
        docs[name] = table.concat(text, "\n")
      end
      pending = {}
      class = nil
    end
  end
  for k, v in pairs(docs) do
    if type(v) == "table" then docs[k] = table.concat(v, "\n") end
  end
  return docs
end

local function name_of(f)
  local seen = {}
  local function search(t, prefix)
    if seen[t] then return nil end
    seen[t] = true
    for k, v in pairs(t) do
      if type(k) == "string" then
        if rawequal(v, f) then return prefix .. k end
        if type(v) == "table" and prefix == "lvs." then
          local found = search(v, prefix .. k .. ".")
          if found then return found end
        end
      end
    end
  end
  return search(lvs, "lvs.")
end

function help(what)
  local d = load_docs()
  if what == nil then
    local names = {}
    for name in pairs(d) do names[#names + 1] = name end
    table.sort(names)
    print("lvsh: Lua 5.4 with the `lvs` module for Linux Virtual Server.")
    print("help(lvs.NAME) or help(\"lvs.NAME\") shows one function. Functions:")
    for _, name in ipairs(names) do print("  " .. name) end
    return
  end
  local name = type(what) == "string" and what or name_of(what)
  if name and not d[name] and d["lvs." .. name] then name = "lvs." .. name end
  if name and d[name] then print(d[name]) else print("no help for " .. tostring(name or what)) end
end
