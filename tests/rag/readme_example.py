# The README's RAG example, executed verbatim by tests/rag/test_readme_example.py
# (run from the repository root; it writes the knowledge base to ./my-kb).
import ragkit

kb = ragkit.KnowledgeBase.open("my-kb", create=True)
kb.add(["knowledge/store/policies"])  # only new or changed files are indexed

answer = ragkit.ask(kb, "How many days do I have to return an item?")
print(answer.text)  # a grounded answer with [n] markers, or a refusal
for c in answer.citations:
    print(f"[{c.n}] {c.source} > {c.heading}  (support {c.support:.2f})")
print(answer.refused, answer.usage.to_dict())

chat = ragkit.chat(kb)  # a conversation, persisted under my-kb/ (resume with thread_id=chat.thread_id)
for text in ["How long do refunds take to reach a PayPal account?", "And for a credit card?"]:
    stream = chat.send(text)
    for delta in stream:  # verified text, sentence by sentence
        print(delta, end="", flush=True)
    print()
    print(stream.answer.standalone_question, stream.answer.usage.kv_cache_hit_rate)
kb.close()
