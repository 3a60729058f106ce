-- A conversation in time order: its time line (hybrid search's neighbours) and its listing
-- (GET /v1/messages?conversation_id=...). Without it the planner walked the tenant's whole
-- time index (messages_tenant_list) for the conversation's rows: 300 ms per search at 300k.
CREATE INDEX messages_conversation_time ON messages (tenant_id, conversation_id, created_at, id);
