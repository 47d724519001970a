-- wrk script for every measurement of the benchmark. Usage:
--   wrk -t2 -c64 -d10s -s bench/wrk/load.lua -H 'X-API-Key: kv_…' http://127.0.0.1:PORT/path -- MODE ARGS…
-- Modes:
--   static [METHOD BODY_FILE]   the URL's path as is (optionally POSTing a fixed body)
--   ids TEMPLATE MIN MAX [KEYS] GET TEMPLATE with "{id}" replaced by a random id in [MIN, MAX]
--                               (with a random X-API-Key from the file KEYS, if given)
--   paths FILE                  GET a random line of FILE (paths with their query strings)
--   keys FILE                   GET the URL's path with a random X-API-Key from FILE
--   patient PATH                POST a new realistic patient to PATH with a fresh Idempotency-Key
--   book PATH FILE THREADS      POST a booking to PATH for the next line of FILE that is this
--                               thread's ("providerId,locationId,patientId,startsAt,endsAt"),
--                               so no two requests of the run ask for the same slot
-- Any mode may be preceded by "rate TOTAL CONNECTIONS": requests then go out at about TOTAL per
-- second in all (each connection waits an exponentially distributed time, mean
-- CONNECTIONS/TOTAL s, after each answer: Poisson arrivals), for latency at a fixed load
-- rather than at saturation. The achieved rate is reported; it falls short of TOTAL only
-- when answers take a noticeable part of the gap.
-- done() prints one line "BENCH_JSON {…}": requests/s, latency percentiles (µs), errors, and,
-- for the write modes, the count of each response status.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("thread_index", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local function read_lines(path)
   local lines = {}
   local f = assert(io.open(path, "r"), "cannot open " .. path)
   for line in f:lines() do
      if line ~= "" then lines[#lines + 1] = line end
   end
   f:close()
   return lines
end

local function with_headers(extra)
   local h = {}
   for k, v in pairs(wrk.headers) do h[k] = v end
   for k, v in pairs(extra) do h[k] = v end
   return h
end

local first_names = { "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
   "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Priya", "Wei", "Mateo", "Amara" }
local last_names = { "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
   "Martinez", "Hernandez", "Lopez", "Nguyen", "Patel", "Kim", "Okafor", "Yamamoto", "Kowalski", "Haddad", "Chen" }
local cities = { { "New York", "NY", "100" }, { "Chicago", "IL", "606" }, { "Los Angeles", "CA", "900" },
   { "Denver", "CO", "802" }, { "Seattle", "WA", "981" } }
local sexes = { "female", "male", "female", "male", "other", "unknown" }

local function patient_body()
   local first = first_names[math.random(#first_names)]
   local last = last_names[math.random(#last_names)]
   local city = cities[math.random(#cities)]
   return string.format(
      '{"firstName":"%s","lastName":"%s","dateOfBirth":"%04d-%02d-%02d","sex":"%s",' ..
      '"email":"%s.%s%d@mail.example.com","phone":"+1%d%03d%04d",' ..
      '"address":{"line1":"%d Main St","city":"%s","region":"%s","postalCode":"%s%02d","country":"US"}}',
      first, last, math.random(1935, 2020), math.random(1, 12), math.random(1, 28), sexes[math.random(#sexes)],
      string.lower(first), string.lower(last), math.random(1, 999),
      math.random(201, 989), math.random(200, 999), math.random(0, 9999),
      math.random(1, 9999), city[1], city[2], city[3], math.random(0, 99))
end

local function idempotency_key()
   counter = counter + 1
   return string.format("bench-%d-%d-%d-%d", thread_index or 0, counter, os.time(), math.random(1, 1e9))
end

local function count_statuses()
   statuses = {}
   response = function(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_index or 0) * 7919)
   if args[1] == "rate" then
      local mean_ms = 1000 * tonumber(args[3]) / tonumber(args[2])
      -- Defined only in this mode: wrk schedules every request through a timer once a
      -- script has delay(), which would cost the saturated measurements.
      delay = function()
         return math.floor(-math.log(1 - math.random()) * mean_ms)
      end
      local rest = {}
      for i = 4, #args do rest[#rest + 1] = args[i] end
      args = rest
   end
   local mode = args[1] or "static"
   if mode == "static" then
      if args[2] then
         wrk.method = args[2]
         local f = assert(io.open(args[3], "r"))
         wrk.body = f:read("*a")
         f:close()
         wrk.headers["Content-Type"] = "application/json"
      end
   elseif mode == "ids" then
      local template, lo, hi = args[2], tonumber(args[3]), tonumber(args[4])
      local before, after = template:match("^(.*){id}(.*)$")
      if args[5] then
         local headers = {}
         for i, k in ipairs(read_lines(args[5])) do headers[i] = with_headers({ ["X-API-Key"] = k }) end
         request = function()
            return wrk.format("GET", before .. math.random(lo, hi) .. after, headers[math.random(#headers)])
         end
      else
         request = function()
            return wrk.format("GET", before .. math.random(lo, hi) .. after)
         end
      end
   elseif mode == "paths" then
      local paths = read_lines(args[2])
      request = function()
         return wrk.format("GET", paths[math.random(#paths)])
      end
   elseif mode == "keys" then
      local keys = read_lines(args[2])
      local headers = {}
      for i, k in ipairs(keys) do headers[i] = with_headers({ ["X-API-Key"] = k }) end
      request = function()
         return wrk.format("GET", wrk.path, headers[math.random(#headers)])
      end
   elseif mode == "patient" then
      local path = args[2]
      count_statuses()
      request = function()
         local h = with_headers({ ["Content-Type"] = "application/json", ["Idempotency-Key"] = idempotency_key() })
         return wrk.format("POST", path, h, patient_body())
      end
   elseif mode == "book" then
      local path, all, nthreads = args[2], read_lines(args[3]), tonumber(args[4])
      local mine = {}
      for i, line in ipairs(all) do
         if (i - 1) % nthreads == (thread_index or 0) % nthreads then mine[#mine + 1] = line end
      end
      local next_slot = 0
      count_statuses()
      request = function()
         next_slot = next_slot + 1
         local line = mine[(next_slot - 1) % #mine + 1]
         local provider, location, patient, starts, ends = line:match("^(%d+),(%d+),(%d+),([^,]+),([^,]+)$")
         local body = string.format(
            '{"patientId":%s,"providerId":%s,"locationId":%s,"startsAt":"%s","endsAt":"%s","reason":"Follow-up visit"}',
            patient, provider, location, starts, ends)
         local h = with_headers({ ["Content-Type"] = "application/json", ["Idempotency-Key"] = idempotency_key() })
         return wrk.format("POST", path, h, body)
      end
   else
      error("unknown mode " .. mode)
   end
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local counts = {}
   for _, t in ipairs(threads) do
      local s = t:get("statuses")
      if s then
         for status, n in pairs(s) do counts[status] = (counts[status] or 0) + n end
      end
   end
   local parts = {}
   for status, n in pairs(counts) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"statuses":{%s}}\n',
      summary.requests, secs, summary.requests / secs, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ",")))
end
