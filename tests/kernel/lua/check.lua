-- Test helper: asserts that every field of `spec` (a service or server spec written in the
-- canonical form lvsh returns) is what lvsh read back from the kernel.
local function same_list(a, b)
  if type(b) ~= "table" then return false end
  return table.concat(a, ",") == table.concat(b, ",")
end

function check(spec, got, path)
  path = path or (spec.addr or ("fwmark " .. tostring(spec.fwmark)))
  assert(got, path .. ": not found")
  for k, v in pairs(spec) do
    if k == "servers" then
      assert(#got.servers == #v, path .. ": " .. #got.servers .. " servers, want " .. #v)
      for _, rs in ipairs(v) do
        local found
        for _, g in ipairs(got.servers) do
          if g.addr == rs.addr then found = g end
        end
        check(rs, found, path .. " server " .. rs.addr)
      end
    elseif type(v) == "table" then
      assert(same_list(v, got[k]), path .. "." .. k .. ": got " .. tostring(got[k] and table.concat(got[k], ",")))
    else
      assert(got[k] == v, string.format("%s.%s: got %s, want %s", path, k, tostring(got[k]), tostring(v)))
    end
  end
end

function find(list, spec)
  for _, s in ipairs(list) do
    if (spec.addr and s.addr == spec.addr and s.proto == (spec.proto or "tcp"))
      or (spec.fwmark and s.fwmark == spec.fwmark and s.af == (spec.af or "inet")) then
      return s
    end
  end
end
