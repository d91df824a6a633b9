import { request, type Agent } from "node:http";

/** One POST of a JSON body over `agent` (keep-alive); resolves on a 200 once the answer is read, rejects otherwise. */
export function keepAlivePost(url: string | URL, body: string, token: string, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
