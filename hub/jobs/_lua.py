"""The Redis driver's scripts: each settles one step atomically (see docs/jobs.md for the keys)."""

# KEYS: stream, delayed, status keys...; ARGV: ttl_ms, pipeline, now, then (name, job, due_ms) per job.
PUSH = """
local out = {}
for i = 3, #KEYS do
  local j = 4 + (i - 3) * 3
  local name, job, due = ARGV[j], ARGV[j + 1], tonumber(ARGV[j + 2])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    out[#out + 1] = 0
  else
    local state = 'queued'
    if due > 0 then
      redis.call('ZADD', KEYS[2], due, job)
      state = 'delayed'
    else
      redis.call('XADD', KEYS[1], '*', 'job', job)
    end
    redis.call('HSET', KEYS[i], 'state', state, 'pipeline', ARGV[2], 'name', name,
               'attempts', 0, 'error', '', 'updated_at', ARGV[3])
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    out[#out + 1] = 1
  end
end
return out
"""

# KEYS: delayed, retry, stream; ARGV: now_ms, limit, status prefix. Moves due jobs to the stream.
MOVE_DUE = """
local moved = 0
for _, z in ipairs({KEYS[1], KEYS[2]}) do
  local due = redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
  for _, job in ipairs(due) do
    redis.call('XADD', KEYS[3], '*', 'job', job)
    redis.call('ZREM', z, job)
    local ok, decoded = pcall(cjson.decode, job)
    if ok and type(decoded) == 'table' and type(decoded['id']) == 'string' then
      local key = ARGV[3] .. decoded['id']
      if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'state', 'queued') end
    end
    moved = moved + 1
  end
end
return moved
"""

# KEYS: stream, status; ARGV: group, entry, result, now, ttl_ms.
ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'state', 'done', 'result', ARGV[3], 'updated_at', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
"""

# KEYS: stream, retry, status; ARGV: group, entry, job, due_ms, error, now, ttl_ms.
RETRY = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('HSET', KEYS[3], 'state', 'failed', 'error', ARGV[5], 'updated_at', ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
return 1
"""

# KEYS: stream, dead, status; ARGV: group, entry, job, error, now, ttl_ms, pipeline.
BURY = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[3], 'error', ARGV[4], 'failed_at', ARGV[5])
redis.call('HSET', KEYS[3], 'state', 'dead', 'error', ARGV[4], 'updated_at', ARGV[5], 'pipeline', ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
"""

# KEYS: dead, stream, status; ARGV: dead entry, job, now, ttl_ms. One dead job back in the queue.
REVIVE = """
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[2])
redis.call('HSET', KEYS[3], 'state', 'queued', 'attempts', 0, 'updated_at', ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
"""

# KEYS: status keys; ARGV: pipeline, now, ttl_ms, then a name per key. Counts an attempt for each
# fetched job and marks it running; returns {attempts, last error} per job.
START = """
local out = {}
for i = 1, #KEYS do
  local attempts = redis.call('HINCRBY', KEYS[i], 'attempts', 1)
  local err = redis.call('HGET', KEYS[i], 'error') or ''
  redis.call('HSET', KEYS[i], 'state', 'running', 'pipeline', ARGV[1], 'name', ARGV[3 + i],
             'updated_at', ARGV[2])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
  out[i] = {attempts, err}
end
return out
"""
