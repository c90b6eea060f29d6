"""Word pools for the sample data: a Brazilian financial-planning practice (SPFP).

Every string here goes into COPY text format unescaped, so none may contain a tab, a
newline or a backslash; a line break inside generated text is written as the two
characters backslash-n on purpose, where the generator builds it.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Ana", "Bruno", "Camila", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique",
    "Isabela", "João", "Karina", "Lucas", "Mariana", "Nicolas", "Olívia", "Pedro",
    "Rafaela", "Samuel", "Tatiana", "Vinícius", "Yasmin", "Thiago", "Letícia", "Gustavo",
    "Beatriz", "Rodrigo", "Fernanda", "André", "Juliana", "Marcelo", "Patrícia", "Ricardo",
)

LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
    "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Moreira",
)

COMPANIES = (
    "Padaria Pão Dourado", "Construtora Horizonte", "Clínica Bem Viver", "Agro Cerrado",
    "Tech Paulista", "Transportes Rota Sul", "Farmácia Popular do Bairro", "Escola Aprender",
    "Restaurante Sabor Mineiro", "Loja Estilo Carioca", "Metalúrgica Forte", "Café Serra Azul",
    "Studio Pilates Equilíbrio", "Advocacia Nogueira", "Contabilidade Exata", "Auto Peças Veloz",
)

# (name, type, icon, colour).  The names are distinct even ignoring case and accents, so
# the default data can never trip unique_user_category_name.
CATEGORIES = (
    ("Alimentação", "expense", "utensils", "#e67e22"),
    ("Mercado", "expense", "shopping-cart", "#d35400"),
    ("Restaurantes", "expense", "coffee", "#e74c3c"),
    ("Moradia", "expense", "home", "#8e44ad"),
    ("Condomínio", "expense", "building", "#9b59b6"),
    ("Transporte", "expense", "car", "#2980b9"),
    ("Combustível", "expense", "fuel", "#3498db"),
    ("Saúde", "expense", "heart", "#c0392b"),
    ("Farmácia", "expense", "pill", "#e84393"),
    ("Educação", "expense", "book", "#16a085"),
    ("Lazer", "expense", "smile", "#f1c40f"),
    ("Vestuário", "expense", "shirt", "#fd79a8"),
    ("Assinaturas", "expense", "tv", "#6c5ce7"),
    ("Impostos", "expense", "landmark", "#636e72"),
    ("Pets", "expense", "paw", "#fdcb6e"),
    ("Viagem", "expense", "plane", "#00b894"),
    ("Salário", "income", "briefcase", "#27ae60"),
    ("Freelance", "income", "laptop", "#2ecc71"),
    ("Dividendos", "income", "trending-up", "#00cec9"),
    ("Aluguel recebido", "income", "key", "#55efc4"),
    ("Comissões", "income", "percent", "#81ecec"),
    ("Reembolso", "income", "rotate-ccw", "#74b9ff"),
    ("Investimentos", "mixed", "pie-chart", "#0984e3"),
    ("Transferências", "mixed", "repeat", "#b2bec3"),
    ("Outros", "mixed", "more-horizontal", "#dfe6e9"),
)

# Names whose case can be flipped without touching a non-ASCII letter: lower() in a
# database with LC_CTYPE=C only folds ASCII, and the opt-in duplicates must collide there too.
DUPLICATE_PRONE_CATEGORIES = ("Mercado", "Lazer", "Pets", "Viagem", "Freelance", "Outros")

# (name, type, balance ceiling in BRL, colour, icon)
ACCOUNTS = (
    ("Nubank Conta", "checking", 25_000, "#8a05be", "credit-card"),
    ("Itaú Conta Corrente", "checking", 40_000, "#ec7000", "landmark"),
    ("Bradesco Poupança", "savings", 80_000, "#cc092f", "piggy-bank"),
    ("Caixa Poupança", "savings", 60_000, "#005ca9", "piggy-bank"),
    ("Cartão Inter", "credit", 15_000, "#ff7a00", "credit-card"),
    ("Cartão C6 Carbon", "credit", 30_000, "#242424", "credit-card"),
    ("XP Investimentos", "investment", 900_000, "#000000", "trending-up"),
    ("BTG Pactual Digital", "investment", 1_500_000, "#05132a", "bar-chart"),
    ("Tesouro Direto", "investment", 300_000, "#1c5d99", "shield"),
    ("Carteira (dinheiro)", "other", 2_000, "#7f8c8d", "wallet"),
)

EXPENSE_DESCRIPTIONS = (
    "Supermercado Pão de Açúcar", "iFood", "Uber", "Posto Shell", "Drogasil", "Netflix",
    "Spotify", "Conta de luz Enel", "Conta de água Sabesp", "Internet Vivo Fibra",
    "Aluguel", "Condomínio", "Academia Smart Fit", "Mensalidade escolar", "Plano de saúde",
    "Padaria", "Feira livre", "Restaurante japonês", "Cinema", "Passagem aérea LATAM",
    "Hotel", "IPVA", "IPTU", "Pet shop", "Farmácia", "Roupas Renner", "Amazon", "Mercado Livre",
)

INCOME_DESCRIPTIONS = (
    "Salário", "Pró-labore", "Freelance consultoria", "Dividendos ITSA4", "Dividendos TAEE11",
    "JCP BBAS3", "Aluguel apartamento", "Comissão parceria", "Reembolso despesas",
    "Restituição IR", "Rendimento CDB", "Venda de equipamento",
)

SPENDERS = ("Eu", "Cônjuge", "Filhos", "Casa", "Empresa")

RECURRING_GROUPS = (
    "Aluguel", "Condomínio", "Plano de saúde", "Academia", "Streaming", "Mensalidade escolar",
    "Salário", "Internet", "Seguro do carro", "Previdência privada",
)
INSTALLMENT_GROUPS = (
    "Notebook", "Geladeira", "Viagem de férias", "Sofá", "Celular", "Curso de inglês",
    "Reforma da cozinha", "Óculos",
)
OTHER_GROUPS = ("Despesas da viagem", "Casamento", "Mudança", "Obra")

GOALS = (
    ("Reserva de emergência", "reserva"), ("Aposentadoria", "aposentadoria"),
    ("Entrada do apartamento", "imovel"), ("Carro novo", "veiculo"),
    ("Viagem para Portugal", "viagem"), ("Intercâmbio dos filhos", "educacao"),
    ("Trocar de notebook", "consumo"), ("Quitar financiamento", "dividas"),
    ("Festa de casamento", "evento"), ("MBA", "educacao"),
)

NOTES = (
    "Cliente prefere contato por WhatsApp", "Revisar na próxima reunião",
    "Aguardando documentação", "Perfil moderado", "Perfil arrojado", "Perfil conservador",
    "Indicado por cliente antigo", "Renegociar taxa",
)

ATA_SUBJECTS = {
    "reuniao": ("Ata da reunião de planejamento", "Resumo da nossa reunião",
                "Próximos passos do seu planejamento"),
    "investimentos": ("Relatório mensal de investimentos", "Rebalanceamento da carteira",
                      "Sugestões de alocação"),
}
ATA_TOPICS = (
    "revisão do orçamento familiar", "reserva de emergência", "previdência privada",
    "alocação em renda fixa", "fundos imobiliários", "seguro de vida", "planejamento sucessório",
    "declaração do imposto de renda", "aportes mensais", "rebalanceamento da carteira",
)

TEMPLATE_TYPES = ("reuniao", "investimentos", "email", "whatsapp")
TEMPLATE_NAMES = ("Padrão", "Formal", "Resumido", "Detalhado", "Boas-vindas", "Follow-up")

FILE_KINDS = (
    # (category, name stem, extension, mime type)
    ("investimentos", "Extrato_carteira", "pdf", "application/pdf"),
    ("investimentos", "Nota_de_corretagem", "pdf", "application/pdf"),
    ("planejamento", "Planejamento_financeiro", "xlsx",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("planejamento", "Fluxo_de_caixa", "csv", "text/csv"),
    ("educacional", "Guia_de_investimentos", "pdf", "application/pdf"),
    ("educacional", "Aula_renda_fixa", "mp4", "video/mp4"),
    ("outros", "Comprovante", "jpg", "image/jpeg"),
    ("outros", "Contrato", "docx",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("screenshots", "Captura_de_tela", "png", "image/png"),
)

TASK_TITLES = (
    "Enviar ata da reunião", "Preparar relatório mensal", "Ligar para cliente",
    "Revisar carteira de investimentos", "Atualizar planilha de fluxo de caixa",
    "Agendar reunião de revisão", "Conferir notas de corretagem", "Emitir nota fiscal",
    "Renovar seguro", "Organizar documentos do IR", "Responder e-mails pendentes",
    "Publicar post no LinkedIn", "Conciliar extratos bancários", "Atualizar CRM",
)
TASK_TAGS = ("cliente", "urgente", "financeiro", "marketing", "ir", "interno", "compliance")

LEAD_SOURCES = ("indicação", "site", "linkedin", "instagram", "evento", "google", "parceiro")
LEAD_NEXT_ACTIONS = (
    "Enviar proposta", "Agendar reunião", "Ligar de volta", "Enviar material",
    "Follow-up por WhatsApp", "Apresentar plano",
)
LEAD_LOST_REASONS = (
    "Preço", "Escolheu outro consultor", "Sem resposta", "Adiou a decisão",
    "Perfil incompatível",
)

DEPARTMENTS = ("financeiro", "marketing", "operacional", "comercial")
AGENTS = {
    "financeiro": ("Agente Financeiro", "Conciliador", "Analista de Fluxo"),
    "marketing": ("Agente de Marketing", "Redator", "Social Media"),
    "operacional": ("Agente Operacional", "Organizador de Tarefas", "Arquivista"),
    "comercial": ("Agente Comercial", "Qualificador de Leads", "SDR"),
}
ACTIVITY_DESCRIPTIONS = {
    "financeiro": ("Conciliação bancária do dia", "Cálculo de comissões",
                   "Projeção de fluxo de caixa"),
    "marketing": ("Rascunho de post semanal", "Análise de engajamento",
                  "Agendamento de publicações"),
    "operacional": ("Organização do quadro de tarefas", "Arquivamento de documentos",
                    "Lembretes de prazos"),
    "comercial": ("Qualificação de novos leads", "Follow-up de propostas",
                  "Atualização do funil de vendas"),
}

POST_TITLES = (
    "5 dicas para montar sua reserva de emergência", "Tesouro Direto: vale a pena?",
    "Como declarar investimentos no IR", "Previdência: PGBL ou VGBL?",
    "O que são fundos imobiliários", "Planejamento financeiro para casais",
    "Renda fixa com Selic alta", "Mitos sobre investir na bolsa",
    "Como sair das dívidas do cartão", "Educação financeira para crianças",
)
PLATFORMS = ("instagram", "linkedin", "tiktok", "youtube", "twitter", "facebook", "other")
REJECTION_REASONS = (
    "Texto longo demais", "Imagem fora da identidade visual", "Tema já publicado",
    "Falta disclaimer da CVM",
)

AUTOMATION_URLS = (
    "https://www.b3.com.br/pt_br/", "https://www.tesourodireto.com.br/",
    "https://statusinvest.com.br/", "https://investidor10.com.br/",
    "https://app.spfp.com.br/dashboard", "https://www.bcb.gov.br/",
)
AUTOMATION_SELECTORS = (
    "#login", "button[type=submit]", ".card-resumo", "input[name=cpf]",
    "select#periodo", "a.menu-extrato", "div.grafico",
)
AUTOMATION_ERRORS = (
    "Timeout waiting for selector", "Element not visible", "Navigation failed: net::ERR_TIMED_OUT",
    "Blocked by domain policy",
)
ALLOWED_DOMAINS = (
    "b3.com.br", "tesourodireto.com.br", "statusinvest.com.br", "investidor10.com.br",
    "bcb.gov.br", "app.spfp.com.br",
)
BLOCKED_DOMAINS = ("facebook.com", "tiktok.com", "bet365.com", "olx.com.br")
